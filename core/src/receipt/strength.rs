//! [`assess`]: a strength verdict for any receipt, ours or a vendor's.

use zeroize::Zeroizing;

use super::{
    check_format, Format, GROUP_LEN, MAX_ASSESSED_CHARS, PREFIX, RANDOM_BITS, WEAK_BELOW_BITS,
    WEAK_BELOW_CHARS,
};
use crate::kdf::trim_receipt;

/// Why [`assess`] calls a receipt weak.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Weakness {
    /// Fewer than [`WEAK_BELOW_CHARS`] characters.
    TooShort { chars: usize },
    /// Mostly one character or one group, repeated.
    Repeated,
    /// Mostly a run such as `abcd`, `4321`, `qwerty` or a common word.
    CommonSequence,
    /// Nothing obvious, but fewer than [`WEAK_BELOW_BITS`] estimated bits.
    LowEntropy { bits: u32 },
}

impl Weakness {
    /// Stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::TooShort { .. } => "too_short",
            Self::Repeated => "repeated",
            Self::CommonSequence => "common_sequence",
            Self::LowEntropy { .. } => "low_entropy",
        }
    }
}

impl std::fmt::Display for Weakness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::TooShort { chars } => write!(
                f,
                "it is only {chars} characters long (fewer than {WEAK_BELOW_CHARS})"
            ),
            Self::Repeated => f.write_str("it is mostly one character or one group, repeated"),
            Self::CommonSequence => f.write_str(
                "it is mostly a common sequence (like abcd, 1234, qwerty or a common word)",
            ),
            Self::LowEntropy { bits } => write!(
                f,
                "it is too predictable (about {bits} bits; at least {WEAK_BELOW_BITS} expected)"
            ),
        }
    }
}

/// [`assess`]'s verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Strength {
    /// A rough upper bound on the guesses an attacker needs, as bits: an
    /// AZR1 receipt that is not weak has exactly [`RANDOM_BITS`]; any other
    /// text is estimated from its length and character classes, runs and
    /// repeats discounted (no dictionary beyond a few words: a phrase of
    /// common words is estimated far too high).
    pub estimated_bits: u32,
    /// Why the receipt is weak; `None` when nothing obvious was found.
    pub weakness: Option<Weakness>,
}

impl Strength {
    pub fn is_weak(&self) -> bool {
        self.weakness.is_some()
    }
}

/// Words a person making up a receipt reaches for: each occurrence counts
/// as one character.
const COMMON_WORDS: &[&str] = &[
    "password", "passwort", "receipt", "recovery", "letmein", "welcome", "secret", "admin",
    "changeme", "iloveyou", "license", "azmx",
];
/// Keyboard rows: a neighbour on a row continues a run.
const KEYBOARD_ROWS: &[&str] = &[
    "1234567890",
    "qwertyuiop",
    "asdfghjkl",
    "zxcvbnm",
    "azertyuiop",
];
/// Characters that separate groups: structure, not secret.
const SEPARATORS: &[char] = &[' ', '-', '_', '.', '/', ':'];

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Counted,
    Repeat,
    Run,
}

/// A strength verdict for any receipt (see [`Strength`]). Checks, in
/// order: fewer than 16 characters (after the §1 trim); a period of at
/// most half its length once separators are removed (`aaaa…`,
/// `K7M3-K7M3-…`); then the estimate: characters that repeat the previous
/// one, repeat an earlier group, continue a run (±1 in code point, a
/// keyboard-row neighbour) or are inside a common word count zero bits;
/// the others `log2(pool)` bits each, the pool summing the classes present
/// (lower 26, upper 26, digits 10, other ASCII 33, non-ASCII 100). Below
/// 64 bits: `repeated` or `common_sequence` when those discounts dominate,
/// `low_entropy` otherwise.
pub fn assess(receipt: &str) -> Strength {
    let t = trim_receipt(receipt);
    let azr1 = check_format(t) == Ok(Format::Azr1);
    let analysed: &str = if azr1 {
        // The prefix and the checksum are not secret: judge the data groups.
        &t[PREFIX.len() + 1..t.len() - GROUP_LEN - 1]
    } else {
        t
    };
    let chars: Zeroizing<Vec<char>> =
        Zeroizing::new(analysed.chars().take(MAX_ASSESSED_CHARS).collect());
    let (bits, kinds) = estimate(&chars);
    let counted_len = t.chars().count();
    let weakness = if counted_len < WEAK_BELOW_CHARS {
        Some(Weakness::TooShort { chars: counted_len })
    } else if is_periodic(&chars) {
        Some(Weakness::Repeated)
    } else if bits < WEAK_BELOW_BITS {
        let repeats = kinds.iter().filter(|&&k| k == Kind::Repeat).count();
        let runs = kinds.iter().filter(|&&k| k == Kind::Run).count();
        let total = kinds.len();
        // Name the discount that did most of the damage, when discounts
        // took at least half of the characters.
        Some(if 2 * (repeats + runs) < total {
            Weakness::LowEntropy { bits }
        } else if repeats >= runs {
            Weakness::Repeated
        } else {
            Weakness::CommonSequence
        })
    } else {
        None
    };
    let estimated_bits = match (azr1, weakness) {
        (true, None) => RANDOM_BITS,
        (true, Some(_)) => bits.min(RANDOM_BITS),
        (false, _) => bits,
    };
    Strength {
        estimated_bits,
        weakness,
    }
}

/// A period of at most half the length, separators ignored.
fn is_periodic(chars: &[char]) -> bool {
    let core: Zeroizing<Vec<char>> = Zeroizing::new(
        chars
            .iter()
            .copied()
            .filter(|c| !SEPARATORS.contains(c))
            .collect(),
    );
    let n = core.len();
    n >= 2 && (1..=n / 2).any(|p| (p..n).all(|i| core[i] == core[i - p]))
}

/// The bits estimate and how each non-separator character was counted.
fn estimate(chars: &[char]) -> (u32, Vec<Kind>) {
    // Groups, to discount a group that repeats an earlier one.
    let mut groups: Vec<(usize, usize)> = Vec::new();
    let mut start = None;
    for (i, c) in chars.iter().enumerate() {
        match (SEPARATORS.contains(c), start) {
            (false, None) => start = Some(i),
            (true, Some(s)) => {
                groups.push((s, i));
                start = None;
            }
            _ => {}
        }
    }
    if let Some(s) = start {
        groups.push((s, chars.len()));
    }
    let lower: Zeroizing<Vec<char>> =
        Zeroizing::new(chars.iter().map(|c| c.to_ascii_lowercase()).collect());
    let mut kind = vec![Kind::Counted; chars.len()];
    // A common word: every character but its first is free.
    for w in COMMON_WORDS {
        let w: Vec<char> = w.chars().collect();
        let mut i = 0;
        while i + w.len() <= lower.len() {
            if lower[i..i + w.len()] == w[..] {
                kind[i + 1..i + w.len()].fill(Kind::Run);
                i += w.len();
            } else {
                i += 1;
            }
        }
    }
    for (gi, &(s, e)) in groups.iter().enumerate() {
        let repeats_earlier = e - s >= 2
            && groups[..gi]
                .iter()
                .any(|&(s2, e2)| chars[s2..e2] == chars[s..e]);
        for i in s..e {
            if kind[i] != Kind::Counted {
                continue;
            }
            let prev = (i > s).then(|| lower[i - 1]);
            kind[i] = if repeats_earlier || prev == Some(lower[i]) {
                Kind::Repeat
            } else if prev.is_some_and(|p| continues_run(p, lower[i])) {
                Kind::Run
            } else {
                Kind::Counted
            };
        }
    }
    let mut pool = 0u32;
    let has = |f: fn(&char) -> bool| chars.iter().filter(|c| !SEPARATORS.contains(c)).any(f);
    pool += if has(char::is_ascii_lowercase) { 26 } else { 0 };
    pool += if has(char::is_ascii_uppercase) { 26 } else { 0 };
    pool += if has(char::is_ascii_digit) { 10 } else { 0 };
    pool += if has(|c| c.is_ascii() && !c.is_ascii_alphanumeric()) {
        33
    } else {
        0
    };
    pool += if has(|c| !c.is_ascii()) { 100 } else { 0 };
    let kinds: Vec<Kind> = chars
        .iter()
        .zip(&kind)
        .filter(|(c, _)| !SEPARATORS.contains(c))
        .map(|(_, &k)| k)
        .collect();
    let counted = kinds.iter().filter(|&&k| k == Kind::Counted).count();
    let bits = if pool < 2 {
        0.0
    } else {
        counted as f64 * f64::from(pool).log2()
    };
    // At most 1024 characters of at most ~7.6 bits: far below u32::MAX.
    (bits.floor() as u32, kinds)
}

/// `b` follows `a` in a run: the next or previous code point among
/// letters and digits, or a neighbour on a keyboard row.
fn continues_run(a: char, b: char) -> bool {
    let alnum = a.is_ascii_alphanumeric() && b.is_ascii_alphanumeric();
    if alnum && (a as u32).abs_diff(b as u32) == 1 {
        return true;
    }
    KEYBOARD_ROWS.iter().any(|row| {
        let r: Vec<char> = row.chars().collect();
        r.windows(2)
            .any(|w| (w[0] == a && w[1] == b) || (w[0] == b && w[1] == a))
    })
}
