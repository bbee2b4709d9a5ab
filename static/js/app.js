// Small progressive enhancements; every page works without them.
(function () {
  "use strict";

  // Forms with data-confirm ask before submitting (token revocation).
  document.addEventListener("submit", function (event) {
    var message = event.target.getAttribute("data-confirm");
    if (message && !window.confirm(message)) {
      event.preventDefault();
    }
  });

  // Buttons with data-copy-target copy that field's value to the clipboard.
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy-target]");
    if (!button) {
      return;
    }
    var field = document.querySelector(button.getAttribute("data-copy-target"));
    if (!field) {
      return;
    }
    field.select();
    var done = function () {
      button.textContent = button.getAttribute("data-copied-label") || button.textContent;
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(field.value).then(done);
    } else {
      document.execCommand("copy");
      done();
    }
  });

  // Buttons with data-copy-text copy that text (full digests shown truncated).
  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text).catch(function () {
        return copyWithSelection(text);
      });
    }
    return copyWithSelection(text);
  }

  function copyWithSelection(text) {
    var area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.style.position = "fixed";
    area.style.opacity = "0";
    document.body.appendChild(area);
    area.select();
    document.execCommand("copy");
    document.body.removeChild(area);
    return Promise.resolve();
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy-text]");
    if (!button) {
      return;
    }
    copyText(button.getAttribute("data-copy-text")).then(function () {
      var label = button.textContent;
      button.textContent = button.getAttribute("data-copied-label") || label;
      button.classList.add("copied");
      window.setTimeout(function () {
        button.textContent = label;
        button.classList.remove("copied");
      }, 1500);
    });
  });

  // Forms with dated conditions (a sign-off approving with conditions, a report rating a model fit with
  // conditions): the conditions box shows only for that choice of its radio field (data-conditions-field,
  // "decision" by default); "Add a condition" adds a row.
  function conditionsField(box) {
    return box.getAttribute("data-conditions-field") || "decision";
  }

  function syncConditions(form) {
    var box = form.querySelector("[data-conditions]");
    if (!box) {
      return;
    }
    var checked = form.querySelector("input[name$='" + conditionsField(box) + "']:checked");
    box.hidden = !checked || checked.value !== box.getAttribute("data-conditions-value");
  }

  function initSignoffForms(root) {
    root.querySelectorAll("form[data-signoff-form], form[data-conditions-form]").forEach(syncConditions);
  }

  document.addEventListener("change", function (event) {
    var form = event.target.closest("form[data-signoff-form], form[data-conditions-form]");
    var box = form && form.querySelector("[data-conditions]");
    if (box && event.target.name && event.target.name.endsWith(conditionsField(box))) {
      syncConditions(form);
    }
  });

  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-add-condition]");
    if (!button) {
      return;
    }
    var box = button.closest("[data-conditions]");
    var total = box.querySelector("input[name$='-TOTAL_FORMS']");
    var max = box.querySelector("input[name$='-MAX_NUM_FORMS']");
    var index = parseInt(total.value, 10);
    if (max && index >= parseInt(max.value, 10)) {
      button.disabled = true;
      return;
    }
    var template = box.querySelector("template[data-condition-template]");
    var html = template.innerHTML.replace(/__prefix__/g, String(index));
    box.querySelector("[data-condition-rows]").insertAdjacentHTML("beforeend", html);
    total.value = String(index + 1);
  });

  // A region that scrolls (a wide table, a long JSON block) takes the keyboard focus, so that keyboard users can
  // scroll it too (WCAG 2.1.1); looked at again when a <details> opens and after htmx swaps.
  function focusableScrollers(root) {
    root.querySelectorAll(".table-responsive, .table-scroll, pre, .event-details dd").forEach(function (el) {
      var scrolls = el.scrollWidth > el.clientWidth || el.scrollHeight > el.clientHeight;
      if (scrolls && !el.hasAttribute("tabindex")) {
        el.setAttribute("tabindex", "0");
      }
    });
  }

  document.addEventListener("toggle", function (event) {
    if (event.target.open) {
      focusableScrollers(event.target);
    }
  }, true);
  window.addEventListener("resize", function () { focusableScrollers(document); });

  // A link with data-toggle-row shows or hides that table row in place (without scripts it loads the page with
  // the row open); the row's first field takes the focus when it opens.
  document.addEventListener("click", function (event) {
    var link = event.target.closest("[data-toggle-row]");
    if (!link) {
      return;
    }
    var row = document.getElementById(link.getAttribute("data-toggle-row"));
    if (!row) {
      return;
    }
    event.preventDefault();
    row.hidden = !row.hidden;
    document.querySelectorAll('[aria-controls="' + row.id + '"]').forEach(function (opener) {
      opener.setAttribute("aria-expanded", row.hidden ? "false" : "true");
      if (row.hidden) {
        opener.focus();
      }
    });
    var field = row.querySelector("input, textarea, select");
    if (!row.hidden && field) {
      field.focus();
    }
  });

  // Plotly charts: each [data-chart] names a json_script element holding {data, layout}.
  function renderCharts(root) {
    if (!window.Plotly) {
      return;
    }
    root.querySelectorAll("[data-chart]").forEach(function (el) {
      var source = document.getElementById(el.getAttribute("data-chart"));
      if (!source) {
        return;
      }
      var spec = JSON.parse(source.textContent);
      window.Plotly.newPlot(el, spec.data, spec.layout, {displaylogo: false, responsive: true,
        locale: document.documentElement.lang === "ru" ? "ru" : "en",
        modeBarButtonsToRemove: ["select2d", "lasso2d", "autoScale2d"]});
    });
  }

  // A workflow form that came back with errors: bring it into view (the alert at the top says why).
  function scrollToRefusedForm() {
    var alert = document.getElementById("workflow-error");
    var target = alert && document.getElementById(alert.getAttribute("data-scroll-to") || "");
    if (target && target.id !== "workflow") {
      target.scrollIntoView({block: "center"});
    }
  }

  document.addEventListener("DOMContentLoaded", function () {
    initSignoffForms(document);
    renderCharts(document);
    scrollToRefusedForm();
    focusableScrollers(document);
  });
  document.addEventListener("htmx:afterSettle", function () {
    initSignoffForms(document);
    focusableScrollers(document);
  });
})();
