//! Store registrations: validated names, specs (contract + validator) and the
//! registry that holds them.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use super::contract::Contract;
use super::error::{InvalidReason, RegistryError, StoreNameError};
use super::record::Record;
use super::todos::validate_todos_body;

/// Longest accepted store name, in characters.
pub const MAX_STORE_NAME_LEN: usize = 64;

/// A validated store name: 1..=64 characters of `[a-z0-9_-]`, starting with a
/// letter, and no `workspace` word (see [`StoreNameError::WorkspaceScoped`]).
///
/// The charset excludes `/`, `\`, `.`, `~` and `:`, so a filesystem path can
/// never be passed where a store name is expected.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StoreName(String);

impl StoreName {
    /// Validates `name`.
    pub fn new(name: impl Into<String>) -> Result<Self, StoreNameError> {
        let name = name.into();
        let mut chars = name.chars();
        match chars.next() {
            None => return Err(StoreNameError::Empty),
            Some(c) if !c.is_ascii_lowercase() => return Err(StoreNameError::BadStart),
            Some(_) => {}
        }
        if !name.chars().all(is_name_char) {
            return Err(StoreNameError::BadChar);
        }
        // All characters are ASCII from here on, so bytes == characters.
        if name.len() > MAX_STORE_NAME_LEN {
            return Err(StoreNameError::TooLong);
        }
        if name.split(['-', '_']).any(|w| w == "workspace") {
            return Err(StoreNameError::WorkspaceScoped);
        }
        Ok(StoreName(name))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-'
}

impl fmt::Display for StoreName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<&str> for StoreName {
    type Error = StoreNameError;
    fn try_from(s: &str) -> Result<Self, Self::Error> {
        StoreName::new(s)
    }
}

impl std::borrow::Borrow<str> for StoreName {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for StoreName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// Store-specific check of an incoming record, run after the generic shape
/// checks ([`Record::check_shape`]) and before the record can win. The merge
/// calls it, tombstones included, on each incoming record that would
/// otherwise win: one greater than the local record of its key (or whose key
/// is new) and greater than every valid incoming version of that key. A
/// record that loses anyway changes nothing, so it is not checked (nor
/// counted as rejected). Local records are trusted and never validated.
///
/// Any `Fn(&Record) -> Result<(), InvalidReason> + Send + Sync` is a validator.
pub trait Validator {
    /// `Ok(())` if `rec` may be merged; otherwise the typed reason.
    fn validate(&self, rec: &Record) -> Result<(), InvalidReason>;
}

impl<F> Validator for F
where
    F: Fn(&Record) -> Result<(), InvalidReason>,
{
    fn validate(&self, rec: &Record) -> Result<(), InvalidReason> {
        self(rec)
    }
}

/// Validator of scoped stores (snippets): every record needs a scope (handle).
#[derive(Clone, Copy, Debug, Default)]
pub struct RequireScope;

impl Validator for RequireScope {
    fn validate(&self, rec: &Record) -> Result<(), InvalidReason> {
        match rec.scope {
            Some(_) => Ok(()),
            None => Err(InvalidReason::MissingScope),
        }
    }
}

/// Validator of unscoped stores (memory): records must not carry a scope.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoScope;

impl Validator for NoScope {
    fn validate(&self, rec: &Record) -> Result<(), InvalidReason> {
        match rec.scope {
            None => Ok(()),
            Some(_) => Err(InvalidReason::UnexpectedScope),
        }
    }
}

/// Validator of the todos store: unscoped, and a live record's body must pass
/// [`validate_todos`](super::validate_todos) (read from the body's text by
/// [`validate_todos_body`]). A tombstone of a session is always valid.
#[derive(Clone, Copy, Debug, Default)]
pub struct TodosValidator;

impl Validator for TodosValidator {
    fn validate(&self, rec: &Record) -> Result<(), InvalidReason> {
        NoScope.validate(rec)?;
        match &rec.body {
            Some(body) => Ok(validate_todos_body(body)?),
            None => Ok(()),
        }
    }
}

/// The validators a host can choose by name (the bindings expose exactly
/// these, so each language maps one enum instead of rebuilding validators).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ValidatorKind {
    /// Only the generic shape checks.
    ShapeOnly,
    /// Every record needs a scope ([`RequireScope`]).
    RequireScope,
    /// No record may carry a scope ([`NoScope`]).
    NoScope,
    /// Unscoped, every live body passes `validate_todos` ([`TodosValidator`]).
    Todos,
}

/// The built-in stores as plain parts: name, contract, validator. A host
/// store may reuse one of these names only with exactly these parts.
pub const BUILTIN_STORES: [(&str, Contract, ValidatorKind); 3] = [
    ("snippets", Contract::LwwByTime, ValidatorKind::RequireScope),
    ("todos", Contract::LwwPerGroup, ValidatorKind::Todos),
    ("memory", Contract::LwwByVersion, ValidatorKind::NoScope),
];

/// A store registration: its name, its merge contract and an optional
/// validator for incoming records.
#[derive(Clone)]
pub struct StoreSpec {
    /// The store's validated name.
    pub name: StoreName,
    /// How versions of one record are ordered.
    pub contract: Contract,
    /// Extra checks on incoming records (see [`Validator`]).
    pub validator: Option<Arc<dyn Validator + Send + Sync>>,
}

impl fmt::Debug for StoreSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoreSpec")
            .field("name", &self.name)
            .field("contract", &self.contract)
            .field(
                "validator",
                &self.validator.as_ref().map(|_| "dyn Validator"),
            )
            .finish()
    }
}

impl StoreSpec {
    /// A host-registered store with no validator.
    pub fn new(name: StoreName, contract: Contract) -> Self {
        StoreSpec {
            name,
            contract,
            validator: None,
        }
    }

    /// Sets the validator.
    pub fn with_validator(mut self, validator: impl Validator + Send + Sync + 'static) -> Self {
        self.validator = Some(Arc::new(validator));
        self
    }

    /// Sets one of the named validators (hosts across FFI pick them by name).
    pub fn with_kind(self, kind: ValidatorKind) -> Self {
        match kind {
            ValidatorKind::ShapeOnly => self,
            ValidatorKind::RequireScope => self.with_validator(RequireScope),
            ValidatorKind::NoScope => self.with_validator(NoScope),
            ValidatorKind::Todos => self.with_validator(TodosValidator),
        }
    }

    /// The built-in store called `name`, if there is one.
    pub fn builtin(name: &str) -> Option<Self> {
        BUILTIN_STORES
            .iter()
            .find(|(n, _, _)| *n == name)
            .map(|&(n, contract, kind)| StoreSpec::new(builtin_name(n), contract).with_kind(kind))
    }

    /// Built-in "snippets": saved prompts scoped to a handle, LWW per
    /// `(handle, id)` by `updated_at` ([`Contract::LwwByTime`]); validator
    /// [`RequireScope`].
    pub fn snippets() -> Self {
        Self::builtin("snippets").expect("snippets is built in")
    }

    /// Built-in "todos": one record per session whose body is the whole list,
    /// LWW per session ([`Contract::LwwPerGroup`]); validator
    /// [`TodosValidator`] ([`validate_todos`](super::validate_todos) on every
    /// incoming live list that would win).
    pub fn todos() -> Self {
        Self::builtin("todos").expect("todos is built in")
    }

    /// Built-in "memory" (global memory, `~/.azmx/memory-global/`): LWW by
    /// monotonic version, then `updated_at`, then the deterministic tie-break
    /// ([`Contract::LwwByVersion`]); validator [`NoScope`].
    pub fn memory() -> Self {
        Self::builtin("memory").expect("memory is built in")
    }

    /// Runs the generic shape checks, the contract's requirements and the
    /// store's validator on an incoming record.
    pub fn validate_incoming(&self, rec: &Record) -> Result<(), InvalidReason> {
        self.check_generic(rec)?;
        self.check_store(rec)
    }

    /// The checks every incoming record passes before it is ordered: shape
    /// and the contract's requirements.
    pub(crate) fn check_generic(&self, rec: &Record) -> Result<(), InvalidReason> {
        rec.check_shape()?;
        if self.contract.requires_version() && rec.version.is_none() {
            return Err(InvalidReason::MissingVersion);
        }
        Ok(())
    }

    /// The store's validator alone.
    pub(crate) fn check_store(&self, rec: &Record) -> Result<(), InvalidReason> {
        match &self.validator {
            Some(v) => v.validate(rec),
            None => Ok(()),
        }
    }
}

fn builtin_name(name: &str) -> StoreName {
    StoreName::new(name).expect("built-in store names are valid")
}

/// The stores known to this device, by name. Names are unique.
#[derive(Clone, Debug, Default)]
pub struct Registry {
    stores: BTreeMap<StoreName, StoreSpec>,
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Registry::default()
    }

    /// A registry holding the three built-in stores: snippets, todos, memory.
    pub fn with_builtins() -> Self {
        let mut r = Registry::new();
        for spec in [
            StoreSpec::snippets(),
            StoreSpec::todos(),
            StoreSpec::memory(),
        ] {
            r.register(spec).expect("built-in names are distinct");
        }
        r
    }

    /// Adds a store; refuses a name that is already registered.
    pub fn register(&mut self, spec: StoreSpec) -> Result<(), RegistryError> {
        if self.stores.contains_key(&spec.name) {
            return Err(RegistryError::Duplicate);
        }
        self.stores.insert(spec.name.clone(), spec);
        Ok(())
    }

    /// The spec registered under `name` (any string; invalid names are simply
    /// not found).
    pub fn get(&self, name: &str) -> Option<&StoreSpec> {
        self.stores.get(name)
    }

    /// All registered stores, by name.
    pub fn iter(&self) -> impl Iterator<Item = &StoreSpec> {
        self.stores.values()
    }

    /// Number of registered stores.
    pub fn len(&self) -> usize {
        self.stores.len()
    }

    /// `true` if no store is registered.
    pub fn is_empty(&self) -> bool {
        self.stores.is_empty()
    }
}
