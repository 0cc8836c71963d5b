/* The console's small enhancements, on every admin page: a Copy button beside each crypto object name.
   Plain script, no build step; the page works without it (the names stay selectable). */
(function () {
  "use strict";

  var status = null;

  function announce(text) {
    if (status === null) {
      status = document.createElement("div");
      status.className = "visually-hidden";
      status.setAttribute("role", "status");
      status.setAttribute("aria-live", "polite");
      document.body.appendChild(status);
    }
    status.textContent = text;
  }

  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text);
    }
    return new Promise(function (resolve, reject) {
      var area = document.createElement("textarea");
      area.value = text;
      area.setAttribute("readonly", "");
      area.className = "visually-hidden";
      document.body.appendChild(area);
      area.select();
      try {
        if (document.execCommand("copy")) {
          resolve();
        } else {
          reject(new Error("copy refused"));
        }
      } catch (error) {
        reject(error);
      } finally {
        document.body.removeChild(area);
      }
    });
  }

  function selectText(element) {
    var range = document.createRange();
    range.selectNodeContents(element);
    var selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
  }

  function addCopyButtons(root) {
    root.querySelectorAll("code.crypto-object-name").forEach(function (code) {
      // A name inside a link (a list's first column) gets its button after the link: no button in a link.
      var anchor = code.closest("a") || code;
      var next = anchor.nextElementSibling;
      if (next && next.classList.contains("copy-button")) {
        return;
      }
      var name = code.textContent.trim();
      var button = document.createElement("button");
      button.type = "button";
      button.className = "copy-button";
      button.textContent = "Copy";
      button.setAttribute("aria-label", "Copy " + name);
      button.addEventListener("click", function () {
        copyText(name).then(
          function () {
            button.textContent = "Copied";
            announce("Copied " + name);
            window.setTimeout(function () { button.textContent = "Copy"; }, 2000);
          },
          function () {
            selectText(code);
            announce("Selected " + name + ": press Control+C to copy it.");
          }
        );
      });
      anchor.insertAdjacentElement("afterend", button);
    });
  }

  addCopyButtons(document);
})();
