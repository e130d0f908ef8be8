//! What a run or a matrix leaves behind: the terminal text, the versioned
//! result file (`--json`), shards and their merge, JUnit XML and the HTML
//! matrix report. Every renderer reads the result file's types, so a report
//! can be made again from a merged file on another machine.

mod csr_writes;
mod diagnosis;
pub(crate) mod html;
pub(crate) mod junit;
pub(crate) mod kept;
pub(crate) mod merge;
pub(crate) mod schema;
pub(crate) mod shard;
mod text;
mod view;

pub use diagnosis::render_diagnosis;
pub use schema::{Cell, CellStatus, ResultFile};
pub use shard::Shard;
pub use text::{render_run, render_table};
pub use view::RunRecord;
