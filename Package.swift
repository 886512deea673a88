// swift-tools-version:6.0
// CLEF on a wearable: toolchain-only Swift package (no third-party dependencies).
import PackageDescription
import Foundation

/// The float kernels rely on fused multiply-add. On x86-64 the baseline target lowers
/// `SIMD.addProduct` to a libm call, so we build for haswell (AVX2 + FMA + F16C, which the x86-64-v3 level also has) when the build
/// machine has it. `CLEF_PORTABLE=1` turns this off for binaries that must run elsewhere.
func hostCPUFlags() -> [String] {
    #if arch(x86_64)
    if ProcessInfo.processInfo.environment["CLEF_PORTABLE"] == "1" { return [] }
    guard let info = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
          let line = info.split(separator: "\n").first(where: { $0.hasPrefix("flags") }) else { return [] }
    let flags = Set(line.split(separator: " ").map(String.init))
    if ["avx2", "fma", "f16c", "bmi2"].allSatisfy(flags.contains) {
        return ["-target-cpu", "haswell"]
    }
    #endif
    return []
}

let fast: [SwiftSetting] = [.unsafeFlags(hostCPUFlags())]
/// Kernels are optimised in debug builds too, so the test suite (built in debug) stays fast.
let kernelFlags: [SwiftSetting] = fast + [.unsafeFlags(["-Ounchecked"], .when(configuration: .release)),
                                          .unsafeFlags(["-O"], .when(configuration: .debug))]

let package = Package(
    name: "CLEF",
    products: [
        .executable(name: "clef", targets: ["clef"]),
        .library(name: "CLEFFloat", targets: ["CLEFFloat"]),
        .library(name: "CLEFCheckpoint", targets: ["CLEFCheckpoint"]),
    ],
    targets: [
        // Embedded-Swift-clean engine code: no Foundation, typed throws, no allocation per window.
        .target(name: "CLEFArch", path: "Sources/CLEFArch", swiftSettings: fast),
        .target(name: "CLEFKernels", dependencies: ["CLEFArch"], path: "Sources/CLEFKernels", swiftSettings: kernelFlags),
        .target(name: "CLEFFloat", dependencies: ["CLEFArch", "CLEFKernels"],
                path: "Sources/CLEFFloat", swiftSettings: kernelFlags),
        .target(name: "CLEFBlob", dependencies: ["CLEFArch"], path: "Sources/CLEFBlob", swiftSettings: kernelFlags),
        // Integer dot products with the Arm DSP extension (SMLAD) and a portable fallback, in C.
        .target(name: "CLEFDSP", path: "Sources/CLEFDSP", cSettings: [.unsafeFlags(["-O2"])]),
        .target(name: "CLEFQuant", dependencies: ["CLEFArch", "CLEFKernels", "CLEFBlob", "CLEFDSP"], path: "Sources/CLEFQuant",
                swiftSettings: kernelFlags),
        .target(name: "CLEFEngine", dependencies: ["CLEFArch", "CLEFKernels", "CLEFBlob", "CLEFFloat", "CLEFQuant"],
                path: "Sources/CLEFEngine", swiftSettings: kernelFlags),
        .target(name: "CLEFStream", dependencies: ["CLEFArch", "CLEFSignal", "CLEFEngine"], path: "Sources/CLEFStream",
                swiftSettings: kernelFlags),
        .target(name: "CLEFSignal", dependencies: ["CLEFDSP"], path: "Sources/CLEFSignal", swiftSettings: kernelFlags),
        // Host-only code (Foundation allowed).
        .target(name: "CLEFData", dependencies: ["CLEFSignal"], path: "Sources/CLEFData",
                swiftSettings: fast + [.unsafeFlags(["-O"], .when(configuration: .debug))]),
        .target(name: "CLEFCheckpoint", dependencies: ["CLEFArch", "CLEFFloat"],
                path: "Sources/CLEFCheckpoint", swiftSettings: fast + [.unsafeFlags(["-O"], .when(configuration: .debug))]),
        .target(name: "CLEFExport", dependencies: ["CLEFArch", "CLEFKernels", "CLEFFloat", "CLEFBlob", "CLEFQuant", "CLEFEngine", "CLEFCheckpoint", "CLEFData"],
                path: "Sources/CLEFExport", swiftSettings: fast + [.unsafeFlags(["-O"], .when(configuration: .debug))]),
        .target(name: "CLEFRisk", path: "Sources/CLEFRisk", swiftSettings: fast),
        // The float trainer (sibling of the engine): losses, backward passes, optimiser.
        .target(name: "CLEFTrain", dependencies: ["CLEFArch", "CLEFKernels", "CLEFFloat", "CLEFRisk", "CLEFCheckpoint", "CLEFSignal", "CLEFData"], path: "Sources/CLEFTrain",
                swiftSettings: fast + [.unsafeFlags(["-O"], .when(configuration: .debug))]),
        .executableTarget(name: "clef", dependencies: ["CLEFArch", "CLEFFloat", "CLEFCheckpoint", "CLEFSignal", "CLEFData",
                                                      "CLEFBlob", "CLEFQuant", "CLEFEngine", "CLEFExport", "CLEFStream", "CLEFRisk", "CLEFTrain"],
                          path: "Tools/clef", swiftSettings: fast),
        .testTarget(name: "CLEFTests", dependencies: ["CLEFArch", "CLEFKernels", "CLEFFloat", "CLEFCheckpoint", "CLEFSignal", "CLEFData", "CLEFBlob", "CLEFQuant", "CLEFEngine", "CLEFExport", "CLEFStream", "CLEFRisk", "CLEFTrain", "clef"],
                    path: "Tests/CLEFTests", swiftSettings: fast),
    ]
)
