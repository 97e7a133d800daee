import CDNNL
import Foundation

/// The number format a network's convolutions run in.
///
/// bfloat16 keeps float32's exponent and 8 bits of its mantissa (about 2-3 significant digits). Convolutions read
/// bf16 activations and weights and accumulate in float32 inside oneDNN's kernels; on CPUs with bf16 matrix units
/// (Intel AMX, `avx512_bf16`) they run several times faster than float32 and the activations take half the
/// memory. What is optimised or summed stays float32 everywhere: the image and L-BFGS's history, Adam's moments
/// and master weights, losses, Gram matrices (float32 results of bf16 products), gradients handed to the
/// optimiser.
public enum Precision: String, Sendable, CaseIterable, Codable {
    /// bf16 where this CPU has native bf16 instructions and the measured kernels are faster; float32 otherwise.
    case auto
    case fp32
    case bf16

    var dataType: dnnl_data_type_t {
        switch self {
        case .fp32: dnnl_f32
        case .bf16: dnnl_bf16
        case .auto: preconditionFailure("auto is resolved by measuring, before a network is built")
        }
    }

    /// Whether oneDNN dispatches native bf16 kernels here (`avx512_core_bf16`, which AMX includes). Without them
    /// oneDNN emulates bf16 with float32 instructions, never faster than float32 itself.
    public static var cpuHasNativeBF16: Bool {
        let isa = dnnl_get_effective_cpu_isa().rawValue
        let bf16 = dnnl_cpu_isa_avx512_core_bf16.rawValue
        return isa & bf16 == bf16
    }

    /// `auto`'s rule, given the measured seconds of a network's convolutions in each format: bf16 only on a CPU
    /// with native bf16 and only when it saves at least 10% (it costs precision, so a tie goes to float32).
    public static func choice(nativeBF16: Bool, fp32Seconds: Double, bf16Seconds: Double) -> Precision {
        nativeBF16 && bf16Seconds < 0.9 * fp32Seconds ? .bf16 : .fp32
    }

    /// What a training runs in, for its log: "bf16", or "fp32 / VGG19 bf16" when its network and VGG19 (for the
    /// perceptual loss, if any) resolved `auto` differently.
    static func label(network: Precision, vgg: Precision?) -> String {
        guard let vgg, vgg != network else { return network.rawValue }
        return "\(network.rawValue) / VGG19 \(vgg.rawValue)"
    }

    /// The instruction set oneDNN dispatches to on this machine, e.g. "avx512_core_amx", for benchmarks' records.
    public static var dispatchedISA: String {
        let names: [(dnnl_cpu_isa_t, String)] = [
            (dnnl_cpu_isa_avx512_core_amx, "avx512_core_amx"), (dnnl_cpu_isa_avx512_core_bf16, "avx512_core_bf16"),
            (dnnl_cpu_isa_avx512_core_vnni, "avx512_core_vnni"), (dnnl_cpu_isa_avx512_core, "avx512_core"),
            (dnnl_cpu_isa_avx2_vnni, "avx2_vnni"), (dnnl_cpu_isa_avx2, "avx2"),
        ]
        let isa = dnnl_get_effective_cpu_isa()
        return names.first { $0.0 == isa }?.1 ?? "isa 0x\(String(isa.rawValue, radix: 16))"
    }

    /// The processor's model name, from /proc/cpuinfo: measurements are only valid on the CPU that made them.
    public static let cpuModel: String = {
        guard let info = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
              let line = info.split(separator: "\n").first(where: { $0.hasPrefix("model name") }),
              let name = line.split(separator: ":", maxSplits: 1).last else { return "unknown CPU" }
        return name.trimmingCharacters(in: .whitespaces)
    }()
}
