//! One file per notification: update the session's inputs, then publish diagnostics.

pub mod did_change;
pub mod did_change_watched_files;
pub mod did_close;
pub mod did_open;
pub mod did_save;
