//! Outbound HTTP policy for plugins that call `wasi:http/outgoing-handler`:
//! which origins a plugin may reach (`allowed_outbound_hosts` in its
//! sidecar, in Spin's syntax), which addresses it may not connect to once a
//! name is resolved unless an entry names them, the limits on its traffic,
//! and the request headers it may not set. Pure policy, no networking: the
//! host's `WasiHttpHooks::send_request` asks, this answers.
//!
//! A request is checked twice. Before DNS, [`AllowList::allows`] on the
//! URL's scheme, host and port; after, [`AllowList::check_connect`] on each
//! address the host resolved to, so a public name cannot lead to a private
//! address.

mod address;
mod allow_list;
mod cidr;
mod entry;
mod headers;
mod host;
mod limits;

pub use address::{Refused, check_address, special_range};
pub use allow_list::{AllowList, suggest_entry, suggest_line};
pub use cidr::Cidr;
pub use entry::{Entry, EntryError, HostPattern, PortPattern, SchemePattern, default_port};
pub use headers::is_forbidden_header;
pub use host::Host;
pub use limits::{
    DEFAULT_CONNECT_TIMEOUT, DEFAULT_FIRST_BYTE_TIMEOUT, DEFAULT_MAX_CONNECTIONS,
    DEFAULT_MAX_REQUESTS, DEFAULT_MAX_RESPONSE_BYTES, LimitError, MAX_MAX_CONNECTIONS,
    MAX_MAX_REQUESTS, MAX_MAX_RESPONSE_BYTES, MAX_TIMEOUT, OutboundLimits, bounded,
};
