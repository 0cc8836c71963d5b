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
  const StringOf = String;
  const NumberOf = Number;

  // Raised by apim.error and context.reject to stop the script; the recorded error is what counts, so a
  // script that catches it still fails.
  const STOP = freeze(create(null));
  let script = null;
  let current = null;

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

  function makeCall(snapshot, limits) {
    const vars = snapshot.variables;
    const requestHeaders = snapshot.requestHeaders;
    const messageHeaders = snapshot.messageHeaders;
    const state = { writes: [], error: null, logs: [], droppedLogs: 0 };

    function messageObject() {
      return {
        body: vars["message.body"] === undefined ? null : vars["message.body"],
        headers: plain(messageHeaders),
        status: { code: vars["message.status.code"], reason: vars["message.status.reason"] },
      };
    }

    function requestObject() {
      return {
        verb: vars["request.verb"],
        method: vars["request.verb"],
        path: vars["request.path"],
        uri: vars["request.uri"] === undefined ? vars["request.path"] : vars["request.uri"],
        headers: plain(requestHeaders),
        parameters: plain(snapshot.query),
        body: vars["request.body"] === undefined ? null : vars["request.body"],
      };
    }

    function getvariable(name) {
      name = StringOf(name);
      if (name === "message") return messageObject();
      if (name === "request") return requestObject();
      if (name === "request.headers") return plain(requestHeaders);
      if (name === "message.headers") return plain(messageHeaders);
      if (name.startsWith("request.headers.")) {
        const key = name.slice(16).toLowerCase();
        return hasOwn(requestHeaders, key) ? requestHeaders[key] : undefined;
      }
      if (name.startsWith("message.headers.")) {
        const key = headerKey(messageHeaders, name.slice(16));
        return key === null ? undefined : messageHeaders[key];
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
      name = StringOf(name);
      if (!name) throw new TypeError("apim.setvariable needs a variable name");
      value = action === "clear" ? null : plain(value);
      if (name.startsWith("message.headers.")) {
        const key = headerKey(messageHeaders, name.slice(16));
        if (key !== null) delete messageHeaders[key];
        if (action !== "clear") messageHeaders[name.slice(16)] = text(value);
      } else if (name.startsWith("request.headers.")) {
        if (action === "clear") delete requestHeaders[name.slice(16).toLowerCase()];
        else requestHeaders[name.slice(16).toLowerCase()] = text(value);
      } else if (action === "clear") {
        delete vars[name];
      } else {
        vars[name] = value;
      }
      state.writes.push([action, name, value]);
    }

    function setvariable(name, value, action) {
      action = action === undefined ? "set" : StringOf(action);
      if (action !== "set" && action !== "add" && action !== "clear") {
        throw new TypeError("apim.setvariable: the action must be 'set', 'add' or 'clear', not '" + action + "'");
      }
      write(action, name, value);
    }

    function raise(name, status, reason, message) {
      state.error = {
        name: StringOf(name || "RuntimeError"),
        status: NumberOf(status) || 500,
        reason: reason === undefined || reason === null ? "" : StringOf(reason),
        message: message === undefined || message === null ? "" : text(message),
      };
      throw STOP;
    }

    function readInput(callback, asJSON) {
      let body = vars["message.body"];
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

    const apim = freeze({
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

    const message = {
      headers: messageHeaders,
      get body() {
        return getvariable("message.body");
      },
      set body(value) {
        write("set", "message.body", value);
      },
      get statusCode() {
        return vars["message.status.code"];
      },
      set statusCode(value) {
        write("set", "message.status.code", value);
      },
      get reasonPhrase() {
        return vars["message.status.reason"];
      },
      set reasonPhrase(value) {
        write("set", "message.status.reason", value);
      },
    };
    const initialHeaders = stringify(messageHeaders);

    const context = freeze({
      get: getvariable,
      set: function (name, value) {
        write("set", name, value);
      },
      clear: function (name) {
        write("clear", name, null);
      },
      message: message,
      request: freeze(requestObject()),
      reject: function (name, reason) {
        const code = NumberOf(vars["message.status.code"]);
        raise(name || "RuntimeError", code >= 400 && code <= 599 ? code : 500, "", reason);
      },
    });

    const session = freeze({
      output: freeze({
        write: function (value) {
          write("set", "message.body", value);
        },
      }),
    });

    function log(level) {
      return function () {
        if (state.logs.length >= limits.logLines) {
          state.droppedLogs += 1;
          return;
        }
        const parts = [];
        for (let index = 0; index < arguments.length; index += 1) parts.push(text(arguments[index]));
        state.logs.push([level, parts.join(" ").slice(0, limits.logLineChars)]);
      };
    }

    const console = freeze({
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

    function finish() {
      // Headers changed in context.message.headers count as writes too: the final set replaces them all.
      if (stringify(messageHeaders) !== initialHeaders) state.writes.push(["set", "message.headers", plain(messageHeaders)]);
      return stringify(state);
    }

    function fail(error) {
      if (error !== STOP && state.error === null && state.thrown === undefined) {
        state.thrown = error instanceof Error ? StringOf(error.name) + ": " + StringOf(error.message) : text(error);
      }
    }

    return { require: require, context: context, session: session, console: console, fail: fail, finish: finish };
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
    },
    compile: function (source) {
      // The Function constructor compiles the script as the body of a function of the bridge's names. Once:
      // a script that got hold of this could otherwise replace itself for the calls after it.
      if (script !== null) throw new Error("the script is compiled already");
      script = Function("require", "context", "session", "console", source);
      return true;
    },
    start: function (snapshotText, logLines, logLineChars) {
      // Runs the script; the host then runs the promise jobs it queued, and asks finish() for the outcome.
      current = makeCall(parse(snapshotText), { logLines: logLines, logLineChars: logLineChars });
      try {
        script(current.require, current.context, current.session, current.console);
      } catch (error) {
        current.fail(error);
      }
      return true;
    },
    finish: function () {
      const call = current;
      current = null;
      return call.finish();
    },
  };
})();
