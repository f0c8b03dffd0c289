//! The counting allocator of tapegrad-testutil, installed for this test binary, so tests can
//! assert "this did not allocate" without guessing from timings.

use tapegrad_testutil::alloc::Counting;

#[global_allocator]
static GLOBAL: Counting = Counting;

pub use tapegrad_testutil::alloc::measure;
