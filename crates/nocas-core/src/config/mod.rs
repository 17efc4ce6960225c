//! Configuration items: the formal version, an optional beta (gray) version
//! served to listed client IPs, tagged versions, and the history record of
//! every change.

pub mod history;
pub mod item;

pub use history::{HistoryRecord, OpType};
pub use item::{BetaVersion, ConfigMeta, ConfigRecord, ConfigVersion, Served, md5_hex};
