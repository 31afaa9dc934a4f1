package channels

// Test helpers of package channels, exported to its external tests (package channels_test).

// SettledGoroutines is settledGoroutines.
var SettledGoroutines = settledGoroutines
