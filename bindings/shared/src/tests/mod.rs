mod engine;
mod error_table;
mod store_spec;
