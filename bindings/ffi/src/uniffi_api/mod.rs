//! uniffi exports.
