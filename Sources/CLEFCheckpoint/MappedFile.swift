import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A read-only memory map of a whole file: checkpoints of several GB are read in place, touching
/// only the pages of the tensors actually used (never the optimizer state).
public final class MappedFile {
    public let path: String
    public let count: Int
    private let base: UnsafeMutableRawPointer?

    public init(path: String) throws(CheckpointError) {
        self.path = path
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else {
            throw CheckpointError(file: path, field: "file", reason: "cannot open (\(String(cString: strerror(errno))))")
        }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else {
            throw CheckpointError(file: path, field: "file", reason: "cannot stat (\(String(cString: strerror(errno))))")
        }
        guard (st.st_mode & S_IFMT) == S_IFREG else {
            throw CheckpointError(file: path, field: "file", reason: "not a regular file")
        }
        count = Int(st.st_size)
        if count == 0 {
            base = nil
            return
        }
        let p = mmap(nil, count, PROT_READ, MAP_PRIVATE, fd, 0)
        guard let p, p != MAP_FAILED else {
            throw CheckpointError(file: path, field: "file", reason: "cannot map \(count) bytes (\(String(cString: strerror(errno))))")
        }
        base = p
    }

    deinit {
        if let base { munmap(base, count) }
    }

    /// Drops the resident pages that lie wholly inside [offset, offset+count) (they are
    /// re-read from the file if touched again).
    public func release(offset: Int, count n: Int) {
        guard let base, n > 0 else { return }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let start = (offset + page - 1) / page * page
        let end = (offset + n) / page * page
        if end > start { _ = madvise(base + start, end - start, MADV_DONTNEED) }
    }

    /// The whole file as bytes (empty for an empty file).
    public var bytes: UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: base.map { UnsafeRawPointer($0) }, count: count)
    }
}
