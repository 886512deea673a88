/// Instrumentation for the firmware simulator: when set, the engines call it at every layer
/// boundary (0 before the stem, b + 1 before block b, blocks + 1 before the final mean, blocks + 2
/// at the end), so an instruction counter can attribute work to layers. A C function pointer, nil
/// by default: no allocation, one load and branch per layer when unused.
public nonisolated(unsafe) var layerProbe: (@convention(c) (Int32) -> Void)? = nil

@inline(__always)
public func markLayer(_ index: Int) {
    if let p = layerProbe { p(Int32(truncatingIfNeeded: index)) }
}
