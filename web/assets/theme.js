// Sluice UI: light or dark. Follows the system setting (prefers-color-scheme)
// until the header's toggle picks one, which is remembered in localStorage.
// Loaded before the style sheet applies, so the page never flashes light.
'use strict';

(function () {
  const KEY = 'sluice-theme';
  const root = document.documentElement;
  const system = window.matchMedia ? window.matchMedia('(prefers-color-scheme: dark)') : null;
  let stored = null;
  try {
    stored = window.localStorage.getItem(KEY);
  } catch (e) {
    stored = null;  // storage blocked: follow the system
  }

  function current() {
    if (stored === 'dark' || stored === 'light') return stored;
    return system && system.matches ? 'dark' : 'light';
  }

  function apply() {
    root.setAttribute('data-theme', current());
    const button = document.getElementById('theme-toggle');
    if (button) {
      const dark = current() === 'dark';
      button.textContent = dark ? '☀' : '☾';
      button.title = dark ? 'Dark mode: click for light' : 'Light mode: click for dark';
      button.setAttribute('aria-pressed', dark ? 'true' : 'false');
    }
  }

  apply();
  if (system && system.addEventListener) system.addEventListener('change', apply);
  document.addEventListener('DOMContentLoaded', () => {
    const button = document.getElementById('theme-toggle');
    if (!button) return;
    button.addEventListener('click', () => {
      stored = current() === 'dark' ? 'light' : 'dark';
      try {
        window.localStorage.setItem(KEY, stored);
      } catch (e) {
        // not remembered, still switched
      }
      apply();
    });
    apply();
  });
})();
