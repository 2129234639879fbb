// OneTable's service worker: keeps the cadre's due list, forms and the files they need on the phone, so a form
// opens and is filled with no network. Served at /sw.js (scope: the whole site); it only caches, never files:
// what is typed offline waits in the page's outbox (offline.js) and is sent by the page when the network returns.
// Workbox (vendored under static/js/workbox/, no CDN) does the caching strategies.
/* global workbox */
"use strict";
const STATIC = new URL(self.location).searchParams.get("static") || "/static/";
importScripts(STATIC + "js/workbox/workbox-sw.js");
workbox.setConfig({ modulePathPrefix: STATIC + "js/workbox/", debug: false });

const PAGES = "onetable-pages"; // offline.js fills it too, with every form the due list links to
const FILES = "onetable-files";
// the due list (/fill/), a periodic form (/fill/<sheet>/<period>/), a filed one and its correction form
// (/submissions/<id>/, …/correct/), a new ledger record's form (/ledger/<sheet>/new/); not uploads, templates or
// other people's pages (offline.js keeps the same pages when the due list opens)
const CADRE_PAGE = /^\/(?:fill\/(?:[\w-]+\/[\w-]+\/)?|submissions\/\d+\/(?:correct\/)?|ledger\/[\w-]+\/new\/)$/;
// only a page shown in full is kept: not a redirect (a filed form), not a refusal, not the login page
const onlyOk = { cacheWillUpdate: async ({ response }) => (response && response.status === 200 && !response.redirected ? response : null) };

workbox.routing.registerRoute(
  ({ request, url }) => request.mode === "navigate" && url.origin === self.location.origin && CADRE_PAGE.test(url.pathname),
  // the network first: the page shows what is due now; the phone's copy when the network does not answer
  new workbox.strategies.NetworkFirst({
    cacheName: PAGES,
    networkTimeoutSeconds: 6,
    plugins: [onlyOk],
    matchOptions: { ignoreVary: true }, // pages vary by cookie and language; the phone holds one person's copy
  }),
);
workbox.routing.registerRoute(
  ({ url }) => url.origin === self.location.origin && url.pathname.startsWith(STATIC),
  new workbox.strategies.StaleWhileRevalidate({ cacheName: FILES, plugins: [onlyOk] }),
);
// a page that was never kept, opened offline (the installed app starts at /): the due list, if the phone has it
workbox.routing.setCatchHandler(async ({ request }) => {
  if (request.mode === "navigate") {
    const page = await caches.match("/fill/", { cacheName: PAGES, ignoreVary: true });
    if (page) return page;
  }
  return Response.error();
});

self.addEventListener("install", () => self.skipWaiting());
self.addEventListener("activate", (event) => event.waitUntil(self.clients.claim()));
// signing out clears the pages kept for that person (a phone may be shared); the outbox stays in the page's storage
self.addEventListener("message", (event) => {
  if (event.data === "forget-pages") event.waitUntil(caches.delete(PAGES));
});
