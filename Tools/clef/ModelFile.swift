import Foundation
import CLEFArch
import CLEFFloat
import CLEFCheckpoint
import CLEFBlob
import CLEFEngine

/// A MODEL argument: a torch checkpoint (.ckpt / .pt) or a CLEF weight blob (.clefw), told
/// apart by content, not by name.
struct ModelFile {
    let path: String
    let engine: Engine
    /// Kept alive while the engine reads weights in place.
    let blobBytes: UnsafeMutableRawBufferPointer?
    let checkpoint: CheckpointModel?
    let blob: BlobReader?

    static func isBlob(_ path: String) -> Bool {
        guard let h = FileHandle(forReadingAtPath: path) else { return false }
        defer { try? h.close() }
        let d = h.readData(ofLength: 8)
        return Array(d) == BlobConstants.magic
    }

    init(path: String) throws {
        self.path = path
        if Self.isBlob(path) {
            guard let data = FileManager.default.contents(atPath: path) else { throw UsageError(description: "\(path): cannot read") }
            // 16-byte aligned copy: tensors are read in place with their natural alignment.
            let buf = UnsafeMutableRawBufferPointer.allocate(byteCount: max(1, data.count), alignment: 16)
            data.withUnsafeBytes { buf.copyMemory(from: $0) }
            let bytes = UnsafeRawBufferPointer(rebasing: buf[0..<data.count])
            do {
                let b = try BlobReader(bytes)
                engine = try Engine(blob: b)
                blob = b
            } catch {
                buf.deallocate()
                throw BlobFileError(path: path, error: error)
            }
            blobBytes = buf
            checkpoint = nil
        } else {
            let m = try CheckpointModel(path: path)
            checkpoint = m
            engine = .f32(m.encoder)
            blobBytes = nil
            blob = nil
        }
    }
}

struct BlobFileError: Error, CustomStringConvertible {
    var path: String
    var error: BlobError
    var description: String { "\(path): \(error)" }
}
