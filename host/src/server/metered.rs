//! What a request's metrics need that only its handler learns: which plugin
//! took it and what kind of route it is. The middleware that answers every
//! request opens a scope; intake fills it in once the plugin is found.

use std::cell::RefCell;
use std::future::Future;
use std::sync::{Arc, LazyLock};

use crate::protocol::PluginKind;

/// Who served a request, as far as it got.
#[derive(Clone)]
pub struct Served {
    /// Empty when no plugin matched.
    pub plugin: Arc<str>,
    /// `none` when no route matched.
    pub kind: &'static str,
}

tokio::task_local! {
    static SERVED: RefCell<Served>;
}

/// The label of a request no plugin took; shared, so no request allocates it.
fn nobody() -> Arc<str> {
    static EMPTY: LazyLock<Arc<str>> = LazyLock::new(|| Arc::from(""));
    EMPTY.clone()
}

/// Runs a request's handling and says who served it.
pub async fn scope<F: Future>(handling: F) -> (F::Output, Served) {
    let start = RefCell::new(Served {
        plugin: nobody(),
        kind: "none",
    });
    SERVED
        .scope(start, async {
            let out = handling.await;
            let served = SERVED.with(|s| s.borrow().clone());
            (out, served)
        })
        .await
}

/// The request is for `plugin`, a plugin of `kind`. Outside a scope (a
/// delivery from the journal, `hookhost test`) nothing is recorded.
pub fn plugin(plugin: &Arc<str>, kind: PluginKind) {
    let _ = SERVED.try_with(|s| {
        *s.borrow_mut() = Served {
            plugin: plugin.clone(),
            kind: kind.world(),
        }
    });
}
