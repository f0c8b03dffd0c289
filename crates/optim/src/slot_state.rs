//! The per-parameter state every optimizer keeps, and the checks a saved one passes before
//! it is loaded.

/// What the shared checks need to know of one parameter's state ([`SgdParamState`],
/// [`AdamParamState`]), so that each optimizer states only what differs.
///
/// [`SgdParamState`]: crate::SgdParamState
/// [`AdamParamState`]: crate::AdamParamState
pub(crate) trait SlotState {
    /// The optimizer's configuration: whether a state is consistent can depend on it
    /// (Adam's amsgrad buffer).
    type Config;

    /// Elements of the parameter this state was built for.
    fn param_len(&self) -> usize;

    /// The first inconsistency, if any (buffers whose sizes disagree, a missing buffer).
    fn inconsistency(&self, config: &Self::Config) -> Option<String>;
}
