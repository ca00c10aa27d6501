// Logs every Worksection event as one line, like the Rust
// `guest-examples/worksection-log`, and warns about high-priority tasks.
//
// Config key: `high_priority` (a number, default 8). An event without an
// object id is refused with `rejected`, which the host logs with the event
// (Worksection already has its `{"status":"OK"}` by then).

import { log, getConfig } from 'hookhost:plugin/host@0.1.0';

const DEFAULT_HIGH_PRIORITY = 8;

// Variants are `{ tag, val }`; cases without a payload have no `val`.
const nameOf = (variant) => (variant.tag === 'other' ? variant.val : variant.tag);

export const worksectionHandler = {
  // Returning is `ok(())`; throwing a `plugin-error` value is `err(...)`.
  handle(event) {
    if (!event.objectId) {
      throw { tag: 'rejected', val: 'event without an object id' };
    }
    const title = event.new?.title ?? event.old?.title ?? '';
    const by = event.user ? `${event.user.name} <${event.user.email}>` : 'unknown';
    log(
      'info',
      `${nameOf(event.action)} ${nameOf(event.objectKind)} #${event.objectId} "${title}" by ${by} ${event.page}`,
    );

    const priority = event.new?.priority;
    if (priority === undefined) return;
    let threshold = DEFAULT_HIGH_PRIORITY;
    const configured = getConfig('high_priority'); // undefined when not set
    if (configured !== undefined) {
      const parsed = Number(configured.trim());
      if (configured.trim() === '' || Number.isNaN(parsed)) {
        log('warn', `config high_priority ${JSON.stringify(configured)} is not a number; using 8`);
      } else {
        threshold = parsed;
      }
    }
    const value = Number(priority.trim());
    if (priority.trim() !== '' && !Number.isNaN(value) && value >= threshold) {
      log('warn', `high priority: #${event.objectId} "${title}" has priority ${priority} (>= ${threshold})`);
    }
  },
};
