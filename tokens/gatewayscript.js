// The gatewayscript bridge: the DataPower API subset that real API Connect scripts use, written in
// JavaScript inside the sandbox (tokens/gatewayscript.py loads it once per engine, before any user code).
//
// The sandbox exposes no host function at all: a call receives the context's variables as one JSON text
// and answers one JSON text (the variables it wrote, an error it raised, its console lines). So a script
// can reach nothing but plain JavaScript values, whatever it does to the objects it is given.
globalThis.__portal = (function () {
  "use strict";
  const stringify = JSON.stringify;
  const parse = JSON.parse;
  const create = Object.create;
  const keys = Object.keys;
  const freeze = Object.freeze;
  const defineProperty = Object.defineProperty;
  const getOwnPropertyDescriptor = Object.getOwnPropertyDescriptor;
  const getPrototypeOf = Object.getPrototypeOf;
  const ownKeys = Reflect.ownKeys;
  const hasOwn = (object, name) => Object.prototype.hasOwnProperty.call(object, name);
  const isArray = Array.isArray;
  const ProxyOf = Proxy;
  const reflectGet = Reflect.get;
  const StringOf = String;
  const NumberOf = Number;

  // Raised by apim.error and context.reject to stop the script; the recorded error is what counts, so a
  // script that catches it still fails.
  const STOP = freeze(create(null));
  let script = null;

  function plain(value) {
    // Only JSON-like values cross the boundary; functions, symbols and undefined vanish as in JSON.
    if (value === undefined) return null;
    if (value === null || typeof value !== "object") {
      return typeof value === "function" || typeof value === "symbol" ? null : value;
    }
    return parse(stringify(value));
  }

  function text(value) {
    if (typeof value === "string") return value;
    try {
      const shown = stringify(value);
      return shown === undefined ? StringOf(value) : shown;
    } catch (error) {
      return StringOf(value);
    }
  }

  function headerKey(headers, name) {
    const lower = StringOf(name).toLowerCase();
    for (const key of keys(headers)) if (key.toLowerCase() === lower) return key;
    return null;
  }

  // The bridge's objects are built once per engine and frozen with everything else; each works on the call
  // in progress (`call`), so a call costs only its own variables. Outside a call they refuse to work.
  let call = null;

  function active() {
    if (call === null) throw new Error("the gatewayscript call has ended");
    return call;
  }

  function messageObject(c) {
    return {
      body: c.vars["message.body"] === undefined ? null : c.vars["message.body"],
      headers: plain(c.messageHeaders),
      status: { code: c.vars["message.status.code"], reason: c.vars["message.status.reason"] },
    };
  }

  function requestObject(c) {
    const vars = c.vars;
    return {
      verb: vars["request.verb"],
      method: vars["request.verb"],
      path: vars["request.path"],
      uri: vars["request.uri"] === undefined ? vars["request.path"] : vars["request.uri"],
      headers: plain(c.requestHeaders),
      parameters: parameters(c),
      body: vars["request.body"] === undefined ? null : vars["request.body"],
    };
  }

  // request.parameters: the path and query parameters (path first), then the headers, as APIC lists an
  // operation's parameters of every kind.
  function parameters(c) {
    const found = plain(c.requestHeaders);
    for (const key of keys(c.query)) found[key] = c.query[key];
    return found;
  }

  function getvariable(name) {
    const c = active();
    const vars = c.vars;
    name = StringOf(name);
    if (name === "message") return messageObject(c);
    if (name === "request") return requestObject(c);
    if (name === "request.parameters") return parameters(c);
    if (name.startsWith("request.parameters.")) {
      const key = name.slice(19);
      if (hasOwn(c.query, key)) return c.query[key];
      const header = key.toLowerCase();
      return hasOwn(c.requestHeaders, header) ? c.requestHeaders[header] : undefined;
    }
    if (name === "request.headers") return plain(c.requestHeaders);
    if (name === "message.headers") return plain(c.messageHeaders);
    if (name.startsWith("request.headers.")) {
      const key = name.slice(16).toLowerCase();
      return hasOwn(c.requestHeaders, key) ? c.requestHeaders[key] : undefined;
    }
    if (name.startsWith("message.headers.")) {
      const key = headerKey(c.messageHeaders, name.slice(16));
      return key === null ? undefined : c.messageHeaders[key];
    }
    if (hasOwn(vars, name)) return vars[name];
    // A name inside an object variable: decoded.claims.sub reads the sub of decoded.claims.
    let cut = name.lastIndexOf(".");
    while (cut > 0) {
      const head = name.slice(0, cut);
      if (hasOwn(vars, head)) {
        let value = vars[head];
        for (const part of name.slice(cut + 1).split(".")) {
          if (value === null || typeof value !== "object" || !hasOwn(value, part)) return undefined;
          value = value[part];
        }
        return value;
      }
      cut = name.lastIndexOf(".", cut - 1);
    }
    return undefined;
  }

  function write(action, name, value) {
    const c = active();
    name = StringOf(name);
    if (!name) throw new TypeError("apim.setvariable needs a variable name");
    value = action === "clear" ? null : plain(value);
    if (name.startsWith("message.headers.")) {
      // As set-variable does: add appends to a header, comma-joined as HTTP folds repeated headers.
      const key = headerKey(c.messageHeaders, name.slice(16));
      const existing = key === null ? "" : c.messageHeaders[key];
      if (key !== null) delete c.messageHeaders[key];
      if (action === "add" && existing) c.messageHeaders[name.slice(16)] = existing + ", " + text(value);
      else if (action !== "clear") c.messageHeaders[name.slice(16)] = text(value);
    } else if (name.startsWith("request.headers.")) {
      if (action === "clear") delete c.requestHeaders[name.slice(16).toLowerCase()];
      else c.requestHeaders[name.slice(16).toLowerCase()] = text(value);
      c.request = null; // context.request shows the headers as they are now
    } else if (action === "clear") {
      delete c.vars[name];
    } else {
      c.vars[name] = value;
    }
    c.state.writes.push([action, name, value]);
  }

  function setvariable(name, value, action) {
    action = action === undefined ? "set" : StringOf(action);
    if (action !== "set" && action !== "add" && action !== "clear") {
      throw new TypeError("apim.setvariable: the action must be 'set', 'add' or 'clear', not '" + action + "'");
    }
    write(action, name, value);
  }

  function raise(name, status, reason, message) {
    active().state.error = {
      name: StringOf(name || "RuntimeError"),
      status: NumberOf(status) || 500,
      reason: reason === undefined || reason === null ? "" : StringOf(reason),
      message: message === undefined || message === null ? "" : text(message),
    };
    throw STOP;
  }

  function readInput(callback, asJSON) {
    let body = active().vars["message.body"];
    let failure = null;
    if (asJSON && typeof body === "string") {
      try {
        body = parse(body);
      } catch (error) {
        failure = error;
      }
    }
    callback(failure, failure ? undefined : body);
  }

  // DataPower's names for what the portal does not offer (context.createMessage, session.reject,
  // body.readAsXML...) must fail naming the call, not as "cannot read property of undefined" (DESIGN.md 3a).
  // So each of the bridge's objects answers a name it lacks with a function that throws naming the call; that
  // function answers its own missing names the same way (context.swagger.readAsJSON()).
  const notOffered = (path) => path + "() is not available: the portal's gatewayscript does not offer it";

  function missing(path) {
    return new ProxyOf(function () {
      throw new Error(notOffered(path));
    }, naming(path));
  }

  function naming(path) {
    return {
      get: function (target, name, receiver) {
        // "then" and "toJSON" are probed by Promise resolution and JSON.stringify: absent, as on a plain object.
        if (typeof name !== "string" || name in target || name === "then" || name === "toJSON") {
          return reflectGet(target, name, receiver);
        }
        return missing(path + "." + name);
      },
    };
  }

  const offered = (path, target) => new ProxyOf(target, naming(path));

  // The message object of DataPower's API gateway, on context.message and context.request: `header` reads and
  // writes the message's headers (names case-insensitive), `body` reads its payload, error-first callbacks.
  function headerOf(path, variable, live) {
    function named(call, name) {
      name = name === undefined || name === null ? "" : StringOf(name);
      if (!name) throw new TypeError(path + "." + call + "() needs a header name");
      return name;
    }
    return offered(path, {
      get: function (name) {
        const headers = live(active());
        const key = headerKey(headers, named("get", name));
        return key === null ? undefined : headers[key];
      },
      set: function (name, value) {
        write("set", variable + named("set", name), value);
      },
      remove: function (name) {
        write("clear", variable + named("remove", name), null);
      },
    });
  }

  function readBody(path, variable, callback, asJSON) {
    if (typeof callback !== "function") {
      throw new TypeError(path + "() needs a callback, function (error, value)");
    }
    const body = active().vars[variable];
    let value = body;
    let failure = null;
    if (body === undefined || body === null) {
      if (asJSON) failure = new SyntaxError("the message has no body to read as JSON");
      else value = "";
    } else if (asJSON && typeof body === "string") {
      try {
        value = parse(body);
      } catch (error) {
        failure = error;
      }
    } else if (!asJSON && typeof body !== "string") {
      value = stringify(body);
    }
    // DataPower's order: the error first, the value second and only without an error.
    if (failure) callback(failure);
    else callback(null, value);
  }

  function bodyOf(path, variable, writable) {
    const body = {
      readAsJSON: function (callback) {
        readBody(path + ".readAsJSON", variable, callback, true);
      },
      readAsBuffer: function (callback) {
        readBody(path + ".readAsBuffer", variable, callback, false);
      },
    };
    if (writable) {
      body.write = function (value) {
        write("set", variable, value);
      };
    }
    return offered(path, body);
  }

  const messageHeader = headerOf("context.message.header", "message.headers.", (c) => c.messageHeaders);
  const requestHeader = headerOf("context.request.header", "request.headers.", (c) => c.requestHeaders);
  const messageBody = bodyOf("context.message.body", "message.body", true);
  const requestBody = bodyOf("context.request.body", "request.body", false);

  const apim = offered("require('apim')", {
    getvariable: getvariable,
    setvariable: setvariable,
    getContext: getvariable,
    output: function (contentType) {
      write("set", "message.headers.Content-Type", StringOf(contentType));
    },
    error: raise,
    readInputAsJSON: function (callback) {
      readInput(callback, true);
    },
    readInputAsBuffer: function (callback) {
      readInput(callback, false);
    },
  });

  // context.message: its headers are the call's own object (a script may change them in place).
  const messagePrototype = {
    header: messageHeader,
    get body() {
      return messageBody;
    },
    set body(value) {
      write("set", "message.body", value);
    },
    get statusCode() {
      return active().vars["message.status.code"];
    },
    set statusCode(value) {
      write("set", "message.status.code", value);
    },
    get reasonPhrase() {
      return active().vars["message.status.reason"];
    },
    set reasonPhrase(value) {
      write("set", "message.status.reason", value);
    },
  };

  const context = offered("context", {
    get: getvariable,
    set: function (name, value) {
      write("set", name, value);
    },
    clear: function (name) {
      write("clear", name, null);
    },
    get message() {
      return active().message;
    },
    get request() {
      const c = active();
      if (c.request === null) {
        const request = requestObject(c);
        request.header = requestHeader;
        request.body = requestBody;
        c.request = offered("context.request", freeze(request));
      }
      return c.request;
    },
    reject: function (name, reason) {
      const code = NumberOf(active().vars["message.status.code"]);
      raise(name || "RuntimeError", code >= 400 && code <= 599 ? code : 500, "", reason);
    },
  });

  // session.input is the current message's payload, as DataPower's API gateway emulates it.
  const session = offered("session", {
    input: offered("session.input", {
      readAsJSON: function (callback) {
        readBody("session.input.readAsJSON", "message.body", callback, true);
      },
      readAsBuffer: function (callback) {
        readBody("session.input.readAsBuffer", "message.body", callback, false);
      },
    }),
    output: offered("session.output", { write: (value) => write("set", "message.body", value) }),
  });

  function log(level) {
    return function () {
      const c = active();
      if (c.state.logs.length >= c.limits.logLines) {
        c.state.droppedLogs += 1;
        return;
      }
      const parts = [];
      for (let index = 0; index < arguments.length; index += 1) parts.push(text(arguments[index]));
      c.state.logs.push([level, parts.join(" ").slice(0, c.limits.logLineChars)]);
    };
  }

  const console = offered("console", {
    log: log("info"),
    info: log("info"),
    debug: log("debug"),
    trace: log("debug"),
    warn: log("warning"),
    error: log("error"),
  });

  function require(name) {
    if (name === "apim") return apim;
    throw new Error(
      "require('" + StringOf(name) + "') is not available: the portal's gatewayscript offers require('apim') only"
    );
  }

  function begin(snapshot, limits) {
    const message = create(messagePrototype);
    message.headers = snapshot.messageHeaders;
    call = {
      vars: snapshot.variables,
      requestHeaders: snapshot.requestHeaders,
      messageHeaders: snapshot.messageHeaders,
      query: snapshot.query,
      limits: limits,
      message: offered("context.message", message),
      request: null,
      initialHeaders: stringify(snapshot.messageHeaders),
      state: { writes: [], error: null, logs: [], droppedLogs: 0 },
    };
  }

  function fail(error) {
    const state = call.state;
    if (error !== STOP && state.error === null && state.thrown === undefined) {
      state.thrown = error instanceof Error ? StringOf(error.name) + ": " + StringOf(error.message) : text(error);
    }
  }

  function end() {
    const c = call;
    call = null;
    // Headers changed in context.message.headers count as writes too: the final set replaces them all.
    if (stringify(c.messageHeaders) !== c.initialHeaders) {
      c.state.writes.push(["set", "message.headers", plain(c.messageHeaders)]);
    }
    return stringify(c.state);
  }

  function harden(root) {
    // Freeze every object reachable from the global object, so no call can leave anything behind for the
    // next one (prototype pollution, globals) and the bridge's own functions cannot be replaced.
    const seen = new Set();
    const pending = [root];
    while (pending.length) {
      const object = pending.pop();
      if (object === null || (typeof object !== "object" && typeof object !== "function") || seen.has(object)) {
        continue;
      }
      seen.add(object);
      freeze(object);
      pending.push(getPrototypeOf(object));
      for (const key of ownKeys(object)) {
        const descriptor = getOwnPropertyDescriptor(object, key);
        if ("value" in descriptor) pending.push(descriptor.value);
        else pending.push(descriptor.get, descriptor.set);
      }
    }
  }

  function hiddenIntrinsics() {
    // The built-ins a script reaches only through a value, never by name from the global object: the
    // iterator prototypes, the generator and async function constructors and their prototypes. Each is shared
    // by every call, so each is frozen too (harden walks on from them: %IteratorPrototype%, %GeneratorPrototype%...).
    const makers = [
      () => [][Symbol.iterator](),
      () => ""[Symbol.iterator](),
      () => new Map().entries(),
      () => new Set().values(),
      () => /a/g[Symbol.matchAll]("a"),
      () => [].values().map((item) => item), // iterator helpers, where the engine has them
      () => Iterator.from({ next: () => ({ done: true }) }),
      () => function* () {},
      () => async function () {},
      () => async function* () {},
      () => (function* () {})(),
      () => (async function* () {})(),
    ];
    const found = [];
    for (const make of makers) {
      try {
        found.push(getPrototypeOf(make()));
      } catch (error) {
        // not in this engine
      }
    }
    return found;
  }

  function tameOverrides() {
    // With frozen prototypes, `error.name = "X"` or `object.toString = f` would fail ("the override
    // mistake"). These properties become accessors whose setter gives the object its own property instead.
    const targets = [
      [Object.prototype, ["toString", "valueOf", "toLocaleString", "constructor"]],
      [Function.prototype, ["toString", "name", "constructor"]],
      [Error.prototype, ["name", "message", "toString", "constructor"]],
    ];
    for (const errorType of [EvalError, RangeError, ReferenceError, SyntaxError, TypeError, URIError]) {
      targets.push([errorType.prototype, ["name", "message", "constructor"]]);
    }
    for (const [prototype, names] of targets) {
      for (const name of names) {
        const descriptor = getOwnPropertyDescriptor(prototype, name);
        if (!descriptor || !("value" in descriptor) || !descriptor.configurable) continue;
        const value = descriptor.value;
        defineProperty(prototype, name, {
          get: function () {
            return value;
          },
          set: function (replacement) {
            if (this === prototype) throw new TypeError("Cannot change the built-in " + StringOf(name));
            defineProperty(this, name, { value: replacement, writable: true, enumerable: true, configurable: true });
          },
          enumerable: descriptor.enumerable,
          configurable: false,
        });
      }
    }
  }

  return {
    lockdown: function () {
      // The host keeps its handles on compile and run; the script never sees them.
      delete globalThis.__portal;
      tameOverrides();
      harden(globalThis);
      // The message objects' header and body are reached through getters, which harden does not call.
      const shared = [apim, messagePrototype, context, session, console, requestHeader, messageBody, requestBody];
      for (const object of [...shared, ...hiddenIntrinsics()]) harden(object);
    },
    compile: function (source) {
      // The Function constructor compiles the script as the body of a function of the bridge's names. Once:
      // a script that got hold of this could otherwise replace itself for the calls after it.
      if (script !== null) throw new Error("the script is compiled already");
      script = Function("require", "context", "session", "console", source);
      harden(script); // reachable from its own calls as arguments.callee: shared by every call, like the rest
      return true;
    },
    start: function (snapshotText, logLines, logLineChars) {
      // Runs the script; the host then runs the promise jobs it queued, and asks finish() for the outcome.
      begin(parse(snapshotText), { logLines: logLines, logLineChars: logLineChars });
      try {
        script(require, context, session, console);
      } catch (error) {
        fail(error);
      }
      return true;
    },
    finish: end,
  };
})();
