import CFuzzer
import Glibc

// libFuzzer's driver runs `fuzzGRUBDisc` on every input (corpus files, then mutations).
var argc = CommandLine.argc
var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
exit(LLVMFuzzerRunDriver(&argc, &argv) { data, size in fuzzGRUBDisc(data!, size) })
