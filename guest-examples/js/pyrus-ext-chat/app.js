// A Pyrus extension that connects Pyrus online chats to an external chat
// service, in JavaScript. The extension's authorization parameters are
// `bot_name` (the chat bot, which becomes the account id) and `bot_token`
// (its token for the chat API, `[config] chat_api`).
//
// - /authorize keeps the account (its token, notifications on) in state;
// - /toggle records `enabled`;
// - /sendmessage sends `message_text` to the channel through the chat API,
//   `POST {chat_api}/messages` with `Authorization: Bearer {token}` and
//   `{"channel_id": …, "text": …}`, with fetch() (wasi:http underneath).
//
// An account that never authorized is `bad_credentials` (Pyrus asks the user
// to authorize again); a chat API failure is `external_error`.

import { log, getConfig } from 'hookhost:plugin/host@0.1.0';
// The plugin's own bucket of wasi:keyvalue state.
import { open } from 'wasi:keyvalue/store@0.2.0-draft';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

// An ext-error, thrown: the host answers Pyrus `error_code` and `error`.
function extError(code, message) {
  return { code, message };
}

// The bucket, opened per call: a call is all a plugin instance lives for.
function bucket() {
  try {
    return open('default');
  } catch (e) {
    throw extError('internal-error', `cannot open the state bucket: ${describe(e)}`);
  }
}

// What a keyvalue error carries (`{ tag, val }`), as text.
function describe(e) {
  const payload = e && e.payload !== undefined ? e.payload : e;
  if (payload && payload.tag) return payload.val ? `${payload.tag}: ${payload.val}` : payload.tag;
  return String(payload);
}

function credential(credentials, code) {
  const found = credentials.find((c) => c.code === code);
  return found && found.value !== '' ? found.value : undefined;
}

const accountKey = (name) => `account/${name}`;

// The stored account named by the call's credentials, or bad_credentials.
function loadAccount(store, auth) {
  const name = credential(auth.credentials, 'bot_name');
  if (name === undefined) throw extError('bad-credentials', 'no bot_name parameter');
  let bytes;
  try {
    bytes = store.get(accountKey(name));
  } catch (e) {
    throw extError('internal-error', `cannot read the state: ${describe(e)}`);
  }
  if (bytes === undefined) {
    throw extError('bad-credentials', `account ${name} is not authorized; authorize again`);
  }
  return { name, ...JSON.parse(decoder.decode(bytes)) };
}

function saveAccount(store, name, account) {
  try {
    store.set(accountKey(name), encoder.encode(JSON.stringify(account)));
  } catch (e) {
    throw extError('internal-error', `cannot write the state: ${describe(e)}`);
  }
}

// The world's export `pyrus-ext-handler` is this module's `pyrusExtHandler`.
export const pyrusExtHandler = {
  authorize(request, _retry) {
    if (request.tag !== 'credentials') {
      throw extError('bad-authorization-code', 'this extension authorizes by parameters, not OAuth');
    }
    const name = credential(request.val, 'bot_name');
    const token = credential(request.val, 'bot_token');
    if (name === undefined || token === undefined) {
      throw extError('no-account', 'bot_name and bot_token are both needed');
    }
    saveAccount(bucket(), name, { token, enabled: true });
    log('info', `account ${name} authorized`);
    return {
      accountId: name,
      accountName: `Chat bot ${name}`,
      accessToken: undefined,
      refreshToken: undefined,
    };
  },

  toggle(request, _retry) {
    const store = bucket();
    const { name, token } = loadAccount(store, request.auth);
    saveAccount(store, name, { token, enabled: request.enabled });
    log('info', `account ${name}: notifications ${request.enabled ? 'on' : 'off'}`);
  },

  event(event, _retry) {
    const { name, enabled } = loadAccount(bucket(), event.auth);
    if (enabled) log('info', `account ${name}: task ${event.taskId} ${event.eventType.tag}`);
  },

  // async: fetch() needs the event loop, which componentize-js runs until
  // the returned promise settles.
  async sendMessage(message, _retry) {
    const { name, token } = loadAccount(bucket(), message.auth);
    const api = getConfig('chat_api');
    if (api === undefined) throw extError('internal-error', 'no chat_api in the sidecar [config]');
    let response;
    try {
      response = await fetch(`${api}/messages`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        body: JSON.stringify({ channel_id: message.channelId, text: message.messageText }),
      });
    } catch (e) {
      throw extError('external-error', `chat API unreachable: ${e}`);
    }
    if (response.status === 401 || response.status === 403) {
      throw extError('bad-credentials', `chat API refused the token of ${name}`);
    }
    if (!response.ok) {
      throw extError('external-error', `chat API answered ${response.status}`);
    }
    log('info', `account ${name}: message sent to channel ${message.channelId}`);
  },

  availableNumbers(auth, _retry) {
    loadAccount(bucket(), auth);
    return []; // a chat, not telephony
  },
};
