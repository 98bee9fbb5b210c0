//! Syntax: the pest grammar, the AST, and the parser that lowers one to the other.

pub mod ast;
mod expected;
pub mod items;
pub mod keywords;
pub mod parser;

pub use parser::{Comment, Parsed, parse};
