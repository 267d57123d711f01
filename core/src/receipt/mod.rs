//! Recovery receipts people can type, and a strength verdict for any receipt.
//!
//! The envelope key is PBKDF2 of whatever the receipt is (PROTOCOL §1): a
//! vendor may issue its own receipts, and those keep working unchanged. This
//! module adds, on top of that contract and without changing it:
//!
//! - [`generate`]: an *AZR1 receipt*, 140 random bits in a form people can
//!   type: `AZR1-XXXX-XXXX-XXXX-XXXX-XXXX-XXXX-XXXX-CCCC`, seven data groups
//!   of four characters of Crockford's base32 alphabet (no I, L, O or U, so
//!   nothing reads as 1 or 0) and a checksum group `CCCC`;
//! - [`check_format`]: catches a typo in an AZR1 receipt *before* the
//!   600,000-round KDF and names the group that looks wrong;
//! - [`assess`]: a verdict for any receipt, ours or a vendor's: weak when
//!   obviously so (short, repeated, a common sequence, predictable).
//!
//! **The rule** (PROTOCOL §1.1): after the §1 trim, a receipt is an AZR1
//! receipt iff its first five characters are `AZR1-` in any letter case.
//! Only those are checked (and refused on a typo); any other text is a
//! vendor receipt and is accepted as given, so no vendor receipt is refused
//! unless it starts with `AZR1-`. The KDF input is never rewritten: an AZR1
//! receipt typed in lower case is refused (receipts are case-sensitive)
//! rather than silently upper-cased, so every host derives the same key from
//! the same accepted text.
//!
//! Checksum: the first 20 bits of
//! `SHA-256("azmx.receipt.v1:" || the 28 data characters as ASCII)`, as four
//! alphabet characters, most significant first. A random typo slips through
//! with probability 2^-20 (and is then still caught by the key check).
//!
//! Nothing here puts receipt text in an error or a log: errors name a group
//! number and a kind of mistake only, and intermediate buffers are zeroized.

use rand_core::{OsRng, RngCore};
use secrecy::SecretString;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::kdf::trim_receipt;

mod strength;
pub use strength::{assess, Strength, Weakness};

/// The first group of every AZR1 receipt (format version 1).
pub const PREFIX: &str = "AZR1";
/// Separates the groups.
pub const SEPARATOR: char = '-';
/// Crockford's base32 alphabet, in value order: digits, then letters
/// without I, L, O and U.
pub const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
/// Characters per group (data and checksum groups).
pub const GROUP_LEN: usize = 4;
/// Data groups between the prefix and the checksum group.
pub const DATA_GROUPS: usize = 7;
/// Data characters: 5 random bits each.
pub const DATA_CHARS: usize = DATA_GROUPS * GROUP_LEN;
/// Random bits in a generated receipt.
pub const RANDOM_BITS: u32 = 140;
/// Groups in an AZR1 receipt: prefix, data groups, checksum group.
pub const GROUPS: usize = DATA_GROUPS + 2;
/// Length of an AZR1 receipt, separators included.
pub const RECEIPT_LEN: usize = GROUPS * (GROUP_LEN + 1) - 1;
/// Domain separation of the checksum hash.
pub const CHECKSUM_DOMAIN: &str = "azmx.receipt.v1:";
/// [`assess`] calls a receipt shorter than this (in characters) weak.
pub const WEAK_BELOW_CHARS: usize = 16;
/// [`assess`] calls a receipt estimated below this many bits weak.
pub const WEAK_BELOW_BITS: u32 = 64;
/// [`assess`] looks at this many characters at most (receipts are short;
/// this bounds the work on hostile input).
pub const MAX_ASSESSED_CHARS: usize = 1024;

/// What [`check_format`] recognised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// An AZR1 receipt whose checksum matches.
    Azr1,
    /// Not an AZR1 receipt (a vendor's own): accepted as given.
    Other,
}

/// A typo in an AZR1 receipt. Groups are numbered from 1, left to right,
/// the `AZR1` prefix being group 1 and the checksum group 9.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FormatError {
    /// Not nine groups separated by `-`: one is missing, extra or split.
    #[error(
        "the receipt has {found} groups; an AZR1 receipt has 9 (AZR1 and eight groups of four \
         characters, separated by `-`)"
    )]
    GroupCount { found: usize },
    /// A group is not four characters long.
    #[error("group {group} has {found} characters instead of 4")]
    GroupLength { group: usize, found: usize },
    /// I, L, O or U: receipts use the digits 1 and 0 instead.
    #[error("group {group} has a letter receipts never use (I, L, O or U; 1 and 0 are digits)")]
    AmbiguousLetter { group: usize },
    /// Lower-case letters: the KDF is case-sensitive.
    #[error(
        "group {group} is in lower case; receipts are case-sensitive, type capitals as printed"
    )]
    Lowercase { group: usize },
    /// Anything else outside the alphabet.
    #[error("group {group} has a character that is not in the receipt alphabet")]
    InvalidCharacter { group: usize },
    /// The checksum group does not match the data groups. `group` is the
    /// one group where a single changed or swapped character would make it
    /// match, when exactly one group can.
    #[error("{}", checksum_message(*group))]
    Checksum { group: Option<usize> },
}

fn checksum_message(group: Option<usize>) -> String {
    match group {
        Some(g) => format!("group {g} looks mistyped (the checksum group does not match)"),
        None => "the checksum group does not match: at least one group is mistyped".into(),
    }
}

impl FormatError {
    /// Stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::GroupCount { .. } => "receipt_group_count",
            Self::GroupLength { .. } => "receipt_group_length",
            Self::AmbiguousLetter { .. } => "receipt_ambiguous_letter",
            Self::Lowercase { .. } => "receipt_lowercase",
            Self::InvalidCharacter { .. } => "receipt_invalid_character",
            Self::Checksum { .. } => "receipt_checksum",
        }
    }

    /// The group (1–9) that looks wrong, when one does.
    pub fn group(&self) -> Option<usize> {
        match *self {
            Self::GroupCount { .. } => None,
            Self::GroupLength { group, .. }
            | Self::AmbiguousLetter { group }
            | Self::Lowercase { group }
            | Self::InvalidCharacter { group } => Some(group),
            Self::Checksum { group } => group,
        }
    }
}

/// A new AZR1 receipt: 140 bits from the operating system's CSPRNG.
pub fn generate() -> SecretString {
    let mut random = Zeroizing::new([0u8; DATA_CHARS]);
    OsRng.fill_bytes(&mut random[..]);
    let mut data = Zeroizing::new([0u8; DATA_CHARS]);
    for (d, r) in data.iter_mut().zip(random.iter()) {
        // 256 is a multiple of 32: masking keeps every character uniform.
        *d = ALPHABET[usize::from(r & 31)];
    }
    let check = checksum(&data);
    SecretString::from(assemble(&data, &check))
}

/// The receipt text from its data and checksum characters. The string is
/// allocated at its final size, so moving it into a `SecretString` does
/// not reallocate (and leave an unwiped copy behind).
fn assemble(data: &[u8; DATA_CHARS], check: &[u8; GROUP_LEN]) -> String {
    let mut out = String::with_capacity(RECEIPT_LEN);
    out.push_str(PREFIX);
    for group in data.chunks(GROUP_LEN).chain([&check[..]]) {
        out.push(SEPARATOR);
        out.extend(group.iter().map(|&b| char::from(b)));
    }
    out
}

/// The checksum group of 28 data characters (see the module docs).
fn checksum(data: &[u8; DATA_CHARS]) -> [u8; GROUP_LEN] {
    let mut h = Sha256::new();
    h.update(CHECKSUM_DOMAIN.as_bytes());
    h.update(data);
    let digest: Zeroizing<[u8; 32]> = Zeroizing::new(h.finalize().into());
    let v =
        (u32::from(digest[0]) << 12) | (u32::from(digest[1]) << 4) | (u32::from(digest[2]) >> 4);
    let at = |shift: u32| ALPHABET[((v >> shift) & 31) as usize];
    [at(15), at(10), at(5), at(0)]
}

/// Whether `receipt` is in AZR1 form by the rule of the module docs (it
/// may still have a typo: see [`check_format`]).
pub fn is_azr1(receipt: &str) -> bool {
    let t = trim_receipt(receipt).as_bytes();
    t.len() > PREFIX.len()
        && t[..PREFIX.len()].eq_ignore_ascii_case(PREFIX.as_bytes())
        && t[PREFIX.len()] == SEPARATOR as u8
}

/// Recognises an AZR1 receipt and verifies it; any other text is
/// [`Format::Other`], never an error. Checks, in order: nine groups, then
/// each group left to right (the prefix is exactly `AZR1`; four
/// characters; per character: I/L/O/U in either case, then lower case,
/// then anything outside the alphabet), then the checksum.
pub fn check_format(receipt: &str) -> Result<Format, FormatError> {
    if !is_azr1(receipt) {
        return Ok(Format::Other);
    }
    let t = trim_receipt(receipt);
    let found = t.split(SEPARATOR).count();
    if found != GROUPS {
        return Err(FormatError::GroupCount { found });
    }
    let mut data = Zeroizing::new([0u8; DATA_CHARS]);
    let mut given = Zeroizing::new([0u8; GROUP_LEN]);
    for (i, g) in t.split(SEPARATOR).enumerate() {
        let group = i + 1;
        if i == 0 {
            // Recognised case-insensitively, so only the case can differ.
            if g != PREFIX {
                return Err(FormatError::Lowercase { group });
            }
            continue;
        }
        let len = g.chars().count();
        if len != GROUP_LEN {
            return Err(FormatError::GroupLength { group, found: len });
        }
        for (j, c) in g.chars().enumerate() {
            let b = alphabet_char(c).map_err(|kind| kind(group))?;
            if i <= DATA_GROUPS {
                data[(i - 1) * GROUP_LEN + j] = b;
            } else {
                given[j] = b;
            }
        }
    }
    if checksum(&data) == *given {
        Ok(Format::Azr1)
    } else {
        Err(FormatError::Checksum {
            group: locate_typo(&data, &given),
        })
    }
}

type ErrorAt = fn(usize) -> FormatError;

fn alphabet_char(c: char) -> Result<u8, ErrorAt> {
    if matches!(c.to_ascii_uppercase(), 'I' | 'L' | 'O' | 'U') {
        return Err(|group| FormatError::AmbiguousLetter { group });
    }
    if c.is_ascii_lowercase() {
        return Err(|group| FormatError::Lowercase { group });
    }
    match u8::try_from(c) {
        Ok(b) if ALPHABET.contains(&b) => Ok(b),
        _ => Err(|group| FormatError::InvalidCharacter { group }),
    }
}

/// The one group (2–9) where a single substituted character, or two
/// swapped neighbours, would make the checksum match; `None` when no group
/// or several can. About 900 hashes: instant, and no KDF.
fn locate_typo(data: &[u8; DATA_CHARS], given: &[u8; GROUP_LEN]) -> Option<usize> {
    let mut candidates: u16 = 0;
    if one_edit_apart(&checksum(data), given) {
        candidates |= 1 << GROUPS;
    }
    let mut work = Zeroizing::new(*data);
    for p in 0..DATA_CHARS {
        let original = work[p];
        for &c in ALPHABET.iter().filter(|&&c| c != original) {
            work[p] = c;
            if checksum(&work) == *given {
                candidates |= 1 << (2 + p / GROUP_LEN);
            }
        }
        work[p] = original;
        if p + 1 < DATA_CHARS && p / GROUP_LEN == (p + 1) / GROUP_LEN && work[p] != work[p + 1] {
            work.swap(p, p + 1);
            if checksum(&work) == *given {
                candidates |= 1 << (2 + p / GROUP_LEN);
            }
            work.swap(p, p + 1);
        }
    }
    (candidates.count_ones() == 1).then_some(candidates.trailing_zeros() as usize)
}

fn one_edit_apart(a: &[u8; GROUP_LEN], b: &[u8; GROUP_LEN]) -> bool {
    let diff: Vec<usize> = (0..GROUP_LEN).filter(|&i| a[i] != b[i]).collect();
    match diff[..] {
        [_] => true,
        [i, j] => j == i + 1 && a[i] == b[j] && a[j] == b[i],
        _ => false,
    }
}

#[cfg(test)]
mod tests;
