//! The plugin kinds hookhost knows, one per WIT world. A plugin's kind is
//! read from the interface its component exports.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PluginKind {
    PyrusBot,
    PyrusExt,
    Worksection,
    HttpHook,
}

impl PluginKind {
    pub const ALL: [PluginKind; 4] = [
        PluginKind::PyrusBot,
        PluginKind::PyrusExt,
        PluginKind::Worksection,
        PluginKind::HttpHook,
    ];

    /// The WIT world a plugin of this kind targets.
    pub fn world(self) -> &'static str {
        self.names().0
    }

    /// The interface (without version) the component exports.
    pub fn export(self) -> &'static str {
        self.names().1
    }

    fn names(self) -> (&'static str, &'static str) {
        match self {
            PluginKind::PyrusBot => ("pyrus-bot", "hookhost:plugin/pyrus-bot-handler"),
            PluginKind::PyrusExt => ("pyrus-ext", "hookhost:plugin/pyrus-ext-handler"),
            PluginKind::Worksection => ("worksection", "hookhost:plugin/worksection-handler"),
            PluginKind::HttpHook => ("http-hook", "hookhost:plugin/http-handler"),
        }
    }

    /// The kind whose interface the export `name` is: `hookhost:plugin/pyrus-bot-handler@0.1.0`
    /// (or without a version) is a Pyrus bot's.
    pub fn exported_by(name: &str) -> Option<PluginKind> {
        PluginKind::ALL.into_iter().find(|kind| {
            name.strip_prefix(kind.export())
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('@'))
        })
    }

    /// Whether the kind is signed with `X-Pyrus-Sig` (and so needs `secret`).
    pub fn pyrus_signed(self) -> bool {
        matches!(self, PluginKind::PyrusBot | PluginKind::PyrusExt)
    }
}

impl fmt::Display for PluginKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.world())
    }
}

#[cfg(test)]
mod tests {
    use super::PluginKind;

    #[test]
    fn matches_versioned_and_bare_names_only() {
        let bot = Some(PluginKind::PyrusBot);
        assert_eq!(
            PluginKind::exported_by("hookhost:plugin/pyrus-bot-handler@0.1.0"),
            bot
        );
        assert_eq!(
            PluginKind::exported_by("hookhost:plugin/pyrus-bot-handler"),
            bot
        );
        assert_eq!(
            PluginKind::exported_by("hookhost:plugin/pyrus-bot-handler-x@0.1.0"),
            None
        );
        assert_eq!(
            PluginKind::exported_by("other:plugin/pyrus-bot-handler@0.1.0"),
            None
        );
    }
}
