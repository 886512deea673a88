import Foundation
import CLEFArch
import CLEFFloat
import CLEFCheckpoint
import CLEFExport

/// `clef`: the command line other tools call. Its `embed` contract (raw little-endian float32
/// in and out) is stable; user errors go to stderr with a non-zero exit, never a stack trace.

struct UsageError: Error, CustomStringConvertible { var description: String }

let usage = """
usage: clef <command> [options]

commands:
  stream [--model M] [--record PATH] [--hop N] [--precision P] [--noise bw|ma:SNRdB] [--lead-off S]
         [--clip COUNTS] [--drop S] [--nan S] [--all-faults] [--minutes M] [--realtime] [--jsonl OUT] [--quiet]
                                               the wearable stream (default: bundled model and record)
  heads [--model M] [--records R...] [--output H.head]
                                               heart-rate head: leave-one-record-out error, fitted head
  train --data PATH... [--metadata CSV] [--size small] [--loss clef|infonce] [--batch 32] [--epochs E | --steps S]
        [--steps-per-epoch 100] [--seed N] [--threads T] [--resume CKPT] --out DIR
                                               CLEF / InfoNCE pretraining (float32 backprop), Lightning checkpoints
  risk --metadata IN.csv --out OUT.csv         SCORE2 / SCORE2-OP risk per record (record,model,risk_percent,mask,reason)
  info MODEL                                   file format, size, parameter count, embedding dim, tensors
  embed --model MODEL --input X.f32 --shape N,C,L --output Y.f32
                                               embeddings [N, D] as raw little-endian float32
  export --checkpoint CKPT --precision f32|f16|q8|q16 [--calibration PATH...] [--eval PATH...]
         [--method mse|percentile|minmax] [--gptq on|off|sequential] [--int8-outputs N] --output MODEL.clefw
                                               weight blob with a size and fidelity report (research
                                               knobs in docs/quantization.md: --headroom8/16, --headroom16-kind,
                                               --output-headroom, --compand KNEE,SHIFT, --table-knots,
                                               --shared-table off|N (q8's one direct Swish table, default 4096),
                                               --input-luts on|off (q8's tables of the int8 block inputs' Swish),
                                               q16: --channel-outputs on|off, --channel-headroom;
                                               --se-int4 none|all|STAGES: 4-bit SE weights, small's
                                               default q8 the last stage, q16 the last three)
  bench [--model MODEL] [--repeats R]          forward timings for (1,1,5000) and (32,1,5000)
  profile [--model M.clefw] [--device nrf52840|stm32l4r5|stm32h743|nrf5340|esp32c3] [--hop 1s] [--preprocess float32|exact|fixed] [--qemu]
                                               per-layer instructions, cycles, ms, RAM and flash on a device (Firmware-Sim)

MODEL is a Lightning .ckpt, a torch.save state_dict .pt or a CLEF weight blob (.clefw).
"""

func main() -> Int32 {
    var args = Array(CommandLine.arguments.dropFirst())
    guard let command = args.first else {
        FileHandle.standardError.write(Data(usage.utf8))
        return 2
    }
    args.removeFirst()
    do {
        switch command {
        case "info": try Info.run(args)
        case "embed": try Embed.run(args)
        case "bench": try Bench.run(args)
        case "export": try Export.run(args)
        case "stream": try Stream.run(args)
        case "heads": try Heads.run(args)
        case "risk": try Risk.run(args)
        case "train": try Train.run(args)
        case "quant-sensitivity": try Sensitivity.run(args)
        case "profile": try Profile.run(args)
        case "-h", "--help", "help": print(usage)
        default: throw UsageError(description: "unknown command '\(command)'\n\n" + usage)
        }
        return 0
    } catch let e as UsageError {
        FileHandle.standardError.write(Data("clef: \(e.description)\n".utf8))
        return 2
    } catch let e as ExportError {
        FileHandle.standardError.write(Data("clef: \(e.description)\n".utf8))
        return 2
    } catch {
        FileHandle.standardError.write(Data("clef: error: \(error)\n".utf8))
        return 1
    }
}

exit(main())
