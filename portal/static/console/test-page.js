/* The test page (API Connect's Test tab): send the chosen operation from this browser to the gateway on the
   same origin, show the answer, and decode a token found in it. Secrets go in headers, never in the URL. */
(function () {
  "use strict";

  var setup = JSON.parse(document.getElementById("test-setup").textContent);
  var form = document.getElementById("test-form");
  var operation = document.getElementById("test-operation");
  var path = document.getElementById("test-path");
  var clientId = document.getElementById("test-client-id");
  var clientSecret = document.getElementById("test-client-secret");
  var headers = document.getElementById("test-headers");
  var body = document.getElementById("test-body");
  var send = document.getElementById("test-send");
  var JWT = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;
  var token = null;
  var kids = null;
  var countdown = null;

  function text(id, value) {
    document.getElementById(id).textContent = value;
  }

  function chosen() {
    return setup.operations[Number(operation.value)] || setup.operations[0];
  }

  function applyOperation() {
    var op = chosen();
    path.value = op.path;
    headers.value = op.headers;
    var bodyless = op.verb === "GET" || op.verb === "HEAD";
    body.disabled = bodyless;
  }

  function parseHeaders() {
    var result = [];
    headers.value.split("\n").forEach(function (line) {
      var colon = line.indexOf(":");
      if (colon > 0) {
        result.push([line.slice(0, colon).trim(), line.slice(colon + 1).trim()]);
      }
    });
    return result;
  }

  function decodePart(part) {
    var base64 = part.replace(/-/g, "+").replace(/_/g, "/");
    while (base64.length % 4) {
      base64 += "=";
    }
    var bytes = Uint8Array.from(atob(base64), function (c) { return c.charCodeAt(0); });
    return JSON.parse(new TextDecoder().decode(bytes));
  }

  function findToken(response, bodyText) {
    var authorization = response.headers.get("Authorization");
    if (authorization && /^Bearer\s+/i.test(authorization)) {
      return authorization.replace(/^Bearer\s+/i, "").trim();
    }
    var trimmed = bodyText.trim();
    if (JWT.test(trimmed)) {
      return trimmed;
    }
    try {
      var parsed = JSON.parse(trimmed);
      if (parsed && typeof parsed === "object") {
        var found = Object.keys(parsed).map(function (key) { return parsed[key]; }).filter(function (value) {
          return typeof value === "string" && JWT.test(value);
        });
        if (found.length) {
          return found[0];
        }
      }
    } catch (error) {
      return null;
    }
    return null;
  }

  function showExpiry(exp) {
    if (countdown !== null) {
      window.clearInterval(countdown);
      countdown = null;
    }
    if (typeof exp !== "number") {
      text("token-expiry", "no exp claim");
      return;
    }
    var at = new Date(exp * 1000).toISOString().replace(".000Z", "Z");
    function tick() {
      var left = Math.round(exp - Date.now() / 1000);
      text("token-expiry", left > 0 ? "in " + left + " s (" + at + ")" : "expired " + -left + " s ago (" + at + ")");
      if (left <= 0 && countdown !== null) {
        window.clearInterval(countdown);
        countdown = null;
      }
    }
    tick();
    countdown = window.setInterval(tick, 1000);
  }

  function showSigner(kid) {
    text("token-kid", kid || "-");
    if (!kid) {
      text("token-signer", "no kid in the header");
      return;
    }
    var lookup = kids !== null ? Promise.resolve(kids) : fetch(setup.keys, { credentials: "same-origin" })
      .then(function (response) { return response.ok ? response.json() : { kids: {} }; })
      .then(function (data) { kids = data.kids || {}; return kids; });
    lookup.then(function (map) {
      var objects = map[kid] || [];
      if (!objects.length) {
        text("token-signer", "no crypto object of this catalog has this kid");
        return;
      }
      var signers = objects.filter(function (o) { return o.role !== "Certificate"; });
      var verifiers = objects.filter(function (o) { return o.role === "Certificate"; });
      var names = function (list) { return list.map(function (o) { return o.name; }).join(", "); };
      var shown = signers.length ? names(signers) : "a key outside this catalog";
      if (verifiers.length) {
        shown += " (verify with " + names(verifiers) + ")";
      }
      text("token-signer", shown);
    }, function () {
      text("token-signer", "unknown (the key list did not load)");
    });
  }

  function showToken(found) {
    var view = document.getElementById("token-view");
    token = found;
    if (!found) {
      view.hidden = true;
      return;
    }
    var parts = found.split(".");
    try {
      var header = decodePart(parts[0]);
      var claims = decodePart(parts[1]);
    } catch (error) {
      view.hidden = true;
      return;
    }
    text("token-header", JSON.stringify(header, null, 2));
    text("token-claims", JSON.stringify(claims, null, 2));
    text("token-alg", header.alg || "-");
    showExpiry(claims.exp);
    showSigner(header.kid);
    var target = setup.operations.some(function (op) { return op.tokenHeader; });
    document.getElementById("use-token").disabled = !target;
    view.hidden = false;
  }

  // The answer appears below the form, under the fold at 1280x800: bring it into view once it is filled in.
  function revealResponse() {
    var response = document.getElementById("test-response");
    response.hidden = false;
    var still = window.matchMedia("(prefers-reduced-motion: reduce)").matches;
    response.scrollIntoView({ block: "start", behavior: still ? "auto" : "smooth" });
  }

  function showResponse(response, bodyText, elapsed) {
    text("response-status", response.status + " " + response.statusText);
    text("response-time", elapsed + " ms");
    var lines = [];
    response.headers.forEach(function (value, name) { lines.push(name + ": " + value); });
    text("response-headers", lines.join("\n"));
    var shown = bodyText;
    try {
      shown = JSON.stringify(JSON.parse(bodyText), null, 2);
    } catch (error) {
      shown = bodyText;
    }
    text("response-body", shown || "(empty)");
  }

  // What the call's invoke policies did (verb, URL, status or error, time), kept by the gateway for a test call
  // that carries this page's trace token (tokens/trace.py).
  function showBackendCalls(requestId) {
    var query = "?trace=" + encodeURIComponent(setup.trace) + "&request=" + encodeURIComponent(requestId);
    fetch(setup.backendCalls + query, { credentials: "same-origin", cache: "no-store" })
      .then(function (response) { return response.ok ? response.json() : { calls: [] }; })
      .then(function (data) {
        var lines = (data.calls || []).map(function (call) {
          var outcome = call.error ? "failed: " + call.error : call.status + ", " + call.bytes + " bytes";
          return call.policy + ": " + call.verb + " " + call.url + " -> " + outcome + " (" + call.ms + " ms)";
        });
        text("response-backend", lines.length ? lines.join("\n") : "(none)");
      })
      .catch(function () { text("response-backend", "(not available)"); });
  }

  function newRequestId() {
    var bytes = new Uint8Array(16);
    window.crypto.getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var op = chosen();
    var requestHeaders = new Headers();
    try {
      parseHeaders().forEach(function (pair) { requestHeaders.append(pair[0], pair[1]); });
    } catch (error) {
      text("response-status", "not sent: " + error.message);
      revealResponse();
      return;
    }
    if (clientId.value.trim()) {
      requestHeaders.set("X-IBM-Client-Id", clientId.value.trim());
    }
    if (clientSecret && clientSecret.value) {
      requestHeaders.set("X-IBM-Client-Secret", clientSecret.value);
    }
    var requestId = newRequestId();
    requestHeaders.set("X-Request-Id", requestId);
    requestHeaders.set("X-Portal-Trace", setup.trace);
    var init = { method: op.verb, headers: requestHeaders, credentials: "omit", cache: "no-store" };
    if (!body.disabled && body.value) {
      init.body = body.value;
    }
    var suffix = path.value.charAt(0) === "/" ? path.value : "/" + path.value;
    var started = performance.now();
    send.disabled = true;
    fetch(setup.gateway + suffix, init)
      .then(function (response) {
        return response.text().then(function (bodyText) {
          showResponse(response, bodyText, Math.round(performance.now() - started));
          showToken(findToken(response, bodyText));
          showBackendCalls(requestId);
          revealResponse();
        });
      })
      .catch(function (error) {
        text("response-status", "no answer: " + error.message);
        revealResponse();
      })
      .finally(function () {
        send.disabled = false;
      });
  });

  operation.addEventListener("change", applyOperation);

  document.getElementById("use-token").addEventListener("click", function () {
    var index = setup.operations.findIndex(function (op) { return op.tokenHeader; });
    if (token === null || index < 0) {
      return;
    }
    operation.value = String(index);
    applyOperation();
    var name = setup.operations[index].tokenHeader;
    var value = name.toLowerCase() === "authorization" ? "Bearer " + token : token;
    var kept = parseHeaders().filter(function (pair) { return pair[0].toLowerCase() !== name.toLowerCase(); });
    kept.push([name, value]);
    headers.value = kept.map(function (pair) { return pair[0] + ": " + pair[1]; }).join("\n");
    send.focus();
  });

  applyOperation();
})();
