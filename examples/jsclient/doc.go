// Package jsclient holds the headless-Chromium tests of gochannels.js, the browser client
// served by the root module's package jsclient. They live in the examples module because
// they drive Chromium with chromedp, a dependency the root module does not take.
//
// The tests run a real gochannels server (channels.Server on a loopback port) that serves
// the module with jsclient.Handler, a test page, and a JSON consumer with acks
// (consumer.WithAcks) that follows the client contract for positions and recovery: it adds
// "pos" to the frames of its stream, reads ?resume= at connect, replays what the client
// missed and ends with a "recovered" frame, or sends "unrecoverable" (reason "epoch" or
// "gap").
package jsclient
