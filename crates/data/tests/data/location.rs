//! The order in which the data directory is chosen.

use std::path::Path;

use tapegrad_data::{MnistLocation, Origin, DEFAULT_MNIST_DIR};

#[test]
fn explicit_beats_env_beats_default() {
    let explicit = MnistLocation::resolve_with(Some(Path::new("/a")), Some("/b".into()));
    assert_eq!(explicit.dir, Path::new("/a"));
    assert_eq!(explicit.origin, Origin::Explicit);
    assert!(!explicit.may_download());

    let env = MnistLocation::resolve_with(None, Some("/b".into()));
    assert_eq!(env.dir, Path::new("/b"));
    assert_eq!(env.origin, Origin::Env);
    assert!(!env.may_download());

    for unset in [None, Some("".into())] {
        let default = MnistLocation::resolve_with(None, unset);
        assert_eq!(default.dir, Path::new(DEFAULT_MNIST_DIR));
        assert_eq!(default.origin, Origin::Default);
        assert!(default.may_download());
    }
}
