/// Bounds-checked element access: nil outside the array.
extension Array {
    package subscript(safe index: Int) -> Element? { indices.contains(index) ? self[index] : nil }
}
