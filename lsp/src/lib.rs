//! The netpol language server: arrives with its own issue.
