// Package browsertest drives the demo (the production wiring behind the
// IAP simulator, against the emulator) in headless Chromium with chromedp,
// the way a person uses it. It has tests only.
package browsertest
