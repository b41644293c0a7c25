// The parent side of a Bitrix24 application frame, as a portal's applayout.js answers it
// (spec frame-host.md §1): the child sends `COMMAND:PARAMS:CALLBACK:APP_SID` (or an object for
// commands containing `:`), the parent checks the sender's origin against the handler's and the
// APP_SID against this page's, runs the command and answers `CALLBACK:JSON` to the handler's
// origin. Anything else gets silence, as from a portal; unlike a portal, this page says so in its
// log. The log shows command names and parameter names only: never tokens, never values.
(() => {
  'use strict';
  const config = JSON.parse(document.getElementById('b24host-config').textContent);
  const frame = document.getElementById('b24host-frame');
  const logList = document.getElementById('b24host-log');
  const data = config.data;
  const isDefault = config.placement === 'DEFAULT';
  let asUser = new URLSearchParams(location.search).get('b24host_as') === 'user';

  function log(kind, text) {
    const item = document.createElement('li');
    item.className = kind;
    item.textContent = new Date().toISOString().slice(11, 23) + ' ' + text;
    logList.appendChild(item);
    logList.scrollTop = logList.scrollHeight;
    (kind === 'warn' ? console.warn : console.info)('[b24host] ' + text);
  }

  async function serverAction(action, body) {
    const response = await fetch('/b24host/action', {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json', 'X-B24-Host': '1' },
      body: JSON.stringify(Object.assign({ action, app_id: config.appId, as_user: asUser }, body || {})),
    });
    const answer = await response.json();
    if (!response.ok) {
      throw new Error(action + ': ' + (answer.error || response.status));
    }
    return answer;
  }

  // The paths `openPath` accepts (applayout.js): CRM entities, the marketplace, users and groups.
  const OPEN_PATHS = [
    /^\/crm\/(deal|lead|contact|company|type)\//,
    /^\/marketplace\//,
    /^\/company\/personal\/user\/[0-9]+\//,
    /^\/workgroups\/group\/[0-9]+\//,
  ];

  // Sentinel: the command answers nothing (the portal stays silent too).
  const SILENT = Symbol('silent');

  function deniedOutsideDefault(name) {
    if (!isDefault) {
      log('warn', name + ' is denied in placement ' + config.placement + ' (the portal ignores it)');
      return true;
    }
    return false;
  }

  const commands = {
    getInitData() {
      const reply = Object.assign({}, data);
      data.FIRST_RUN = false;
      return reply;
    },
    async setInstall(params) {
      await serverAction('install');
      return params;
    },
    async refreshAuth() {
      const fresh = await serverAction('refresh');
      Object.assign(data, fresh);
      log('note', 'refreshAuth: issued a new token pair for the signed-in user');
      return fresh;
    },
    async setInstallFinish(params) {
      if (!config.admin) {
        log('warn', 'setInstallFinish from a non-administrator: ignored, as by the portal');
        return SILENT;
      }
      const installed = !(params && params.value === false);
      await serverAction('install-finish', { installed });
      log('note', 'setInstallFinish: installed=' + installed + ', reloading the page');
      const url = new URL(location.href);
      url.searchParams.set('install_finished', installed ? 'Y' : 'N');
      location.replace(url.toString());
      return SILENT;
    },
    resizeWindow(params) {
      const p = params || {};
      if (p.width !== undefined) {
        frame.style.width = typeof p.width === 'number' ? p.width + 'px' : String(p.width);
      }
      if (p.height !== undefined) {
        frame.style.height = typeof p.height === 'number' ? p.height + 'px' : String(p.height);
      }
      return { width: frame.offsetWidth, height: frame.offsetHeight };
    },
    setTitle(params) {
      if (deniedOutsideDefault('setTitle')) return SILENT;
      const title = String((params && params.title) || '');
      document.title = title;
      document.getElementById('b24host-title').textContent = title;
      return params;
    },
    async setAppOption(params) {
      if (!config.admin) {
        log('warn', 'setAppOption from a non-administrator: no answer, as from the portal');
        return SILENT;
      }
      const options = await serverAction('app-option', { name: String(params.name), value: params.value });
      data.APP_OPTIONS = options;
      return options;
    },
    async setUserOption(params) {
      await serverAction('user-option', { name: String(params.name), value: params.value });
      if (Array.isArray(data.USER_OPTIONS)) data.USER_OPTIONS = {};
      data.USER_OPTIONS[String(params.name)] = params.value;
      return params;
    },
    setScroll(params) {
      if (deniedOutsideDefault('setScroll')) return SILENT;
      window.scrollTo(0, Number((params && params.scroll) || 0));
      return params;
    },
    reloadWindow() {
      if (deniedOutsideDefault('reloadWindow')) return SILENT;
      location.reload();
      return SILENT;
    },
    closeApplication() {
      log('warn', 'closeApplication: the application is not in a slider; the portal does not answer');
      return SILENT;
    },
    getInterface() {
      return { command: Object.keys(commands), event: [] };
    },
    // The portal opens these paths in a slider and answers once it closes; this page has no CRM
    // screens, so it logs the path and answers as if the slider had been closed.
    openPath(params) {
      const path = String((params && params.path) || '');
      if (!OPEN_PATHS.some((pattern) => pattern.test(path))) {
        log('warn', 'openPath ' + path + ': not a path the portal opens (PATH_NOT_AVAILABLE)');
        return { result: 'error', errorCode: 'PATH_NOT_AVAILABLE' };
      }
      log('note', 'openPath ' + path + ': the portal would open it in a slider; answered as closed');
      return { result: 'close' };
    },
    // The portal's user dialog, as a prompt for a user id; cancelling it answers nothing (the
    // portal's dialog answers only on a choice).
    selectUser(params) {
      const dialog = document.getElementById('b24host-select-user');
      return new Promise((resolve) => {
        dialog.addEventListener('close', async () => {
          if (dialog.returnValue !== 'ok') {
            resolve(SILENT);
            return;
          }
          const id = Number(document.getElementById('b24host-user-id').value);
          try {
            const user = await serverAction('user', { user_id: id });
            resolve(params && params.mult ? [user] : user);
          } catch (e) {
            log('warn', 'selectUser: ' + e.message);
            resolve(SILENT);
          }
        }, { once: true });
        dialog.showModal();
      });
    },
    imCallTo: fireAndForget('imCallTo'),
    imPhoneTo: fireAndForget('imPhoneTo'),
    imOpenMessenger: fireAndForget('imOpenMessenger'),
    imOpenHistory: fireAndForget('imOpenHistory'),
  };

  function fireAndForget(name) {
    return () => {
      log('note', name + ': the portal would open its messenger; nothing to answer');
      return SILENT;
    };
  }

  // Commands split as applayout.js splits them: method first, APP_SID last, callback before it,
  // the parameters (JSON that may contain `:`) in between.
  function parse(message) {
    if (typeof message === 'string') {
      const parts = message.split(':');
      if (parts.length < 3) return null;
      const sid = parts.pop();
      const callback = parts.pop();
      const method = parts.shift();
      const raw = parts.join(':');
      let params;
      if (raw !== '') {
        try {
          params = JSON.parse(raw);
        } catch (e) {
          params = raw;
        }
      }
      return { method, params, callback, sid };
    }
    if (message && typeof message === 'object' && typeof message.method === 'string') {
      return { method: message.method, params: message.params, callback: message.callback || '', sid: message.appSid };
    }
    return null;
  }

  window.addEventListener('message', async (event) => {
    if (event.source === window) return;
    if (event.origin !== config.handlerOrigin) {
      log('warn', 'a message from ' + event.origin + ' was ignored: the application runs at ' +
        config.handlerOrigin + ' (the portal checks the origin and stays silent)');
      return;
    }
    const command = parse(event.data);
    if (!command) {
      log('warn', 'a message that is not COMMAND:PARAMS:CALLBACK:APP_SID was ignored');
      return;
    }
    if (command.sid !== config.sid) {
      log('warn', command.method + ' with a wrong APP_SID was ignored (the portal stays silent)');
      return;
    }
    const handler = Object.prototype.hasOwnProperty.call(commands, command.method) && commands[command.method];
    if (!handler) {
      log('warn', 'unknown command ' + command.method + ': no answer (the portal ignores it too)');
      return;
    }
    const keys = command.params && typeof command.params === 'object' ? Object.keys(command.params) : [];
    log('in', '← ' + command.method + (keys.length ? ' {' + keys.join(', ') + '}' : ''));
    let result;
    try {
      result = await handler(command.params);
    } catch (e) {
      log('warn', command.method + ' failed: ' + e.message);
      return;
    }
    if (result === SILENT || !command.callback) return;
    const reply = command.callback + ':' + (result === undefined ? '' : JSON.stringify(result));
    frame.contentWindow.postMessage(reply, config.handlerOrigin);
    log('out', '→ ' + command.method + ' answered');
  });

  document.getElementById('b24host-expire').addEventListener('click', async () => {
    const answer = await serverAction('expire');
    log('note', 'expired ' + answer.expired + ' access token(s) of the application: its next call answers expired_token');
  });
  const lower = document.getElementById('b24host-as-user');
  if (config.canLower) {
    lower.addEventListener('click', () => {
      const url = new URL(location.href);
      url.searchParams.set('b24host_as', 'user');
      url.searchParams.delete('install_finished');
      location.assign(url.toString());
    });
  } else {
    lower.disabled = true;
  }
  document.getElementById('b24host-who').textContent =
    (config.admin ? 'administrator' : 'user') + (config.placement === 'DEFAULT' ? '' : ' · ' + config.placement) +
    (data.INSTALL ? ' · install page' : '');

  // Open the application as the portal does: the frame is named DOMAIN|PROTOCOL|APP_SID in the
  // page (a name set later would not reach its window); POST the launch parameters into it. The
  // form is removed once sent.
  const form = document.createElement('form');
  form.method = 'POST';
  form.action = config.action;
  form.target = config.frameName;
  form.style.display = 'none';
  for (const [name, value] of config.fields) {
    const input = document.createElement('input');
    input.type = 'hidden';
    input.name = name;
    input.value = value;
    form.appendChild(input);
  }
  document.body.appendChild(form);
  form.submit();
  form.remove();
  config.fields = [];
  log('note', 'opened ' + config.appName + ' (' + config.placement + ') at ' + config.handlerOrigin);
})();
