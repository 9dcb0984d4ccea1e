// The Swift runtime's own start-up, for BENCHMARKS.md section 8: a static executable
// (`swiftc -O -static-executable`) that prints one line and exits.
print("swift-floor")
