// The diffusion_gemma family (DiffusionGemma, transformers DiffusionGemmaForBlockDiffusion): the Gemma 4 MoE
// backbone of engine/arch/gemma4_backbone.h run in two modes over one set of weights, as a BlockDenoiser
// (engine/diffusion/block_denoiser.h).
//   Encoder (Commit): causal over the committed tokens, appending their K/V to the cache; no head (only the K/V it
//     leaves are used). transformers ties every encoder weight to the decoder's (the checkpoint stores them under
//     model.decoder.*) except the layer_scalar buffers, which are not tied: the encoder scales each layer by its own
//     model.encoder.language_model.layers.<l>.layer_scalar. An NVFP4 export may also store the encoder's experts
//     (model.encoder.language_model.layers.<l>.experts.<e>.*: the same weights, with input scales calibrated on the
//     encoder's activations); the encoder then runs those. NVIDIA's deduplicated export stores one set (decoder
//     naming, input scales max-merged over both sides), which both modes run.
//   Decoder (Denoise): a canvas of canvas_length ids at the positions after the committed ones, bidirectional: every
//     canvas row sees the whole canvas and, on full-attention layers, every committed position; on sliding layers
//     only the last sliding_window - 1 committed positions. That is transformers' generation path (the one
//     generate() and the fixtures' references take): its DynamicSlidingWindowLayer cache keeps the last
//     sliding_window - 1 positions, and the decoder concatenates the canvas K/V to what the cache holds and attends
//     without a mask. (Its training path, encoder K/V as plain tensors, would show sliding layers every position.)
//     The canvas K/V go only to scratch rows after the committed length. Its input embeddings get self-conditioning
//     first:
//       e = embed(canvas) * sqrt(D);  s = softmax(previous logits) @ embed * sqrt(D)  (zeros on a block's first step)
//       x = unscaled_norm(e + down(gelu_tanh(gate(pre_norm(s))) * up(pre_norm(s))))   (model.decoder.self_conditioning)
//     then the layers, the final norm, lm_head tied to the embedding, and the final soft-cap (30).
// The vision tower (model.encoder.vision_tower.*, model.encoder.embed_vision.*) is not run: text only.
#include <algorithm>
#include <cmath>

#include "engine/arch/gemma4_backbone.h"
#include "engine/diffusion/block_denoiser.h"

namespace fp4lab {

namespace {

constexpr const char* kDecoder = "model.decoder.";
constexpr const char* kEncoder = "model.encoder.language_model.";

std::string LayerPrefix(const char* root, int l) { return root + std::string("layers.") + std::to_string(l) + "."; }

struct DiffusionGemmaConfig {
  Gemma4Config text;
  int canvas_length = 0;
};

// Model::Forward, DecodeStep and ForwardSequences run the causal encoder: they append K/V to the caller's cache and
// write no logits (a diffusion model has no causal head). The denoiser surface is BlockDenoiser.
class DiffusionGemmaModel : public Gemma4Backbone, public BlockDenoiser {
 public:
  // `encoder_experts`: the entries of the encoder's own experts (loaded when the checkpoint has them); it must
  // outlive the model.
  DiffusionGemmaModel(const DiffusionGemmaConfig& config, const TensorManifest& manifest,
                      const TensorManifest& encoder_experts, Backend& backend)
      : Gemma4Backbone(config.text, manifest, backend),
        canvas_length_(config.canvas_length),
        encoder_experts_manifest_(encoder_experts) {}

  Status Load(WeightLoader& loader) {
    const std::string decoder = kDecoder;
    FP4LAB_ASSIGN_OR_RETURN(embed_, LoadEmbedding(loader, decoder + "embed_tokens.weight"));
    FP4LAB_ASSIGN_OR_RETURN(embed_transposed_, LoadTransposedEmbedding(loader, decoder + "embed_tokens.weight"));
    for (int l = 0; l < gemma4().decoder.num_layers; ++l) {
      FP4LAB_ASSIGN_OR_RETURN(Layer layer, LoadLayer(loader, LayerPrefix(kDecoder, l), l));
      AttentionLayout bidirectional = layer.layout;
      bidirectional.causal = false;
      bidirectional.window = 0;  // sliding layers: bounded by sliding_rows_ instead
      decoder_layouts_.push_back(bidirectional);
      FP4LAB_ASSIGN_OR_RETURN(const float scalar, LoadScalar(loader, LayerPrefix(kEncoder, l) + "layer_scalar"));
      encoder_layer_scalars_.push_back(scalar);
      encoder_experts_.emplace_back();
      if (loader.Has(ExpertTensorName(LayerPrefix(kEncoder, l) + "experts.*.gate_proj.weight", 0))) {
        FP4LAB_RETURN_IF_ERROR(
            LoadExpertsAt(loader, LayerPrefix(kEncoder, l), encoder_experts_.back(), &encoder_experts_manifest_));
      }
      layers_.push_back(std::move(layer));
    }
    FP4LAB_ASSIGN_OR_RETURN(final_norm_, LoadVector(loader, decoder + "norm.weight"));
    const std::string sc = decoder + "self_conditioning.";
    FP4LAB_ASSIGN_OR_RETURN(sc_pre_norm_, LoadVector(loader, sc + "pre_norm.weight"));
    return LoadGatedMlp(loader, sc, sc_mlp_);
  }

  BlockDenoiser* AsBlockDenoiser() override { return this; }

  // BlockDenoiser
  int64_t vocab_size() const override { return config().vocab_size; }
  int canvas_length() const override { return canvas_length_; }
  int64_t max_context() const override { return config().max_position_embeddings; }
  void Reset() override {
    if (cache_) cache_->Clear();
    processed_logits_kept_ = false;
  }
  int64_t committed_tokens() const override { return cache_ ? cache_->lengths[0] : 0; }

  Status Commit(std::span<const int32_t> tokens) override {
    const int64_t after = committed_tokens() + static_cast<int64_t>(tokens.size());
    if (tokens.empty()) return Status::InvalidArgument("Commit: no tokens");
    if (after > max_context() - canvas_length_) {
      return Status::InvalidArgument("Commit: " + std::to_string(after) + " committed tokens leave no room for a " +
                                     "canvas of " + std::to_string(canvas_length_) + " in the context of " +
                                     std::to_string(max_context()));
    }
    FP4LAB_RETURN_IF_ERROR(EnsureCapacity(after + canvas_length_));
    if (!no_logits_) {
      FP4LAB_ASSIGN_OR_RETURN(no_logits_, backend().Allocate(1, 1));
    }
    return Forward(tokens, *cache_, 0, *no_logits_);
  }

  Status Denoise(std::span<const int32_t> canvas, std::span<const float> self_conditioning,
                 std::span<float> logits) override {
    const int64_t C = canvas_length_, V = vocab_size();
    if (static_cast<int64_t>(canvas.size()) != C || static_cast<int64_t>(logits.size()) != C * V ||
        (!self_conditioning.empty() && static_cast<int64_t>(self_conditioning.size()) != C * V)) {
      return Status::InvalidArgument("Denoise: expected a canvas of " + std::to_string(C) + " ids, logits of " +
                                     std::to_string(C * V) + " values and self-conditioning of 0 or " +
                                     std::to_string(C * V) + "; got " + std::to_string(canvas.size()) + ", " +
                                     std::to_string(logits.size()) + ", " + std::to_string(self_conditioning.size()));
    }
    if (committed_tokens() == 0) return Status::FailedPrecondition("Denoise: nothing committed (Commit a prompt first)");
    self_conditioned_ = !self_conditioning.empty();
    if (self_conditioned_) {
      // The previous logits go up as they are (the caller rounded them if it wanted to); softmax on the device.
      FP4LAB_RETURN_IF_ERROR(EnsureCanvasBuffer(sc_probs_));
      FP4LAB_RETURN_IF_ERROR(backend().Upload(self_conditioning, *sc_probs_));
      FP4LAB_RETURN_IF_ERROR(backend().SelfConditioningSoftmax(*sc_probs_, /*round_to_bf16=*/false, *sc_probs_));
    }
    FP4LAB_RETURN_IF_ERROR(DecodeCanvas(canvas));
    return backend().Download(*device_logits_, logits);
  }

  // The device-resident step: the logits never leave the device; device_logits_ keeps the processed rows as the
  // next step's self-conditioning input.
  Status DenoiseStep(std::span<const int32_t> canvas, const DenoiseStepSettings& settings,
                     std::span<CanvasRowOutcome> outcomes) override {
    const int64_t C = canvas_length_;
    if (static_cast<int64_t>(canvas.size()) != C || static_cast<int64_t>(settings.uniforms.size()) != C ||
        static_cast<int64_t>(outcomes.size()) != C || !(settings.temperature > 0.0f)) {
      return Status::InvalidArgument("DenoiseStep: expected a canvas, uniforms and outcomes of " + std::to_string(C) +
                                     " and a positive temperature; got " + std::to_string(canvas.size()) + ", " +
                                     std::to_string(settings.uniforms.size()) + ", " +
                                     std::to_string(outcomes.size()) + " and " +
                                     std::to_string(settings.temperature));
    }
    if (committed_tokens() == 0) {
      return Status::FailedPrecondition("DenoiseStep: nothing committed (Commit a prompt first)");
    }
    if (settings.self_condition && !processed_logits_kept_) {
      return Status::FailedPrecondition("DenoiseStep: self-conditioning asked for, but no previous step's logits");
    }
    self_conditioned_ = settings.self_condition;
    if (self_conditioned_) {
      FP4LAB_RETURN_IF_ERROR(EnsureCanvasBuffer(sc_probs_));
      FP4LAB_RETURN_IF_ERROR(
          backend().SelfConditioningSoftmax(*device_logits_, settings.self_conditioning_in_bf16, *sc_probs_));
    }
    FP4LAB_RETURN_IF_ERROR(DecodeCanvas(canvas));
    FP4LAB_RETURN_IF_ERROR(
        backend().ProcessCanvasRows(*device_logits_, settings.temperature, settings.uniforms, outcomes));
    processed_logits_kept_ = true;
    return Status::Ok();
  }

 protected:
  Status RunDecoder(StepBuffers& step, KvCache& cache, DeviceTensor& logits) override {
    const DecoderConfig& d = gemma4().decoder;
    const int64_t D = d.hidden_size;
    FP4LAB_ASSIGN_OR_RETURN(DeviceTensor * x, Buffer(step, "x", D));
    FP4LAB_ASSIGN_OR_RETURN(DeviceTensor * h, Buffer(step, "h", D));
    FP4LAB_ASSIGN_OR_RETURN(DeviceTensor * m, Buffer(step, "m", D));
    FP4LAB_RETURN_IF_ERROR(EmbedScaled(step, *embed_, *x));
    const bool encode = pass_ == Pass::kEncode;
    if (!encode) FP4LAB_RETURN_IF_ERROR(SelfCondition(step, *x, *h, *m));
    const RowPlacement sliding_rows{sliding_positions_.get(), step.cache_rows.get(), /*one_sequence=*/true};
    for (size_t l = 0; l < layers_.size(); ++l) {
      const Layer& L = layers_[l];
      const bool sliding = gemma4().layers[l].sliding;
      FP4LAB_RETURN_IF_ERROR(RunLayer(step, L, encode ? L.layout : decoder_layouts_[l],
                                      encode ? encoder_layer_scalars_[l] : L.layer_scalar,
                                      encode && encoder_experts_[l].experts ? encoder_experts_[l] : L.experts,
                                      *cache.k[l], *cache.v[l], *x, *h, *m,
                                      !encode && sliding ? &sliding_rows : nullptr));
    }
    if (encode) return Status::Ok();  // the encoder's output is the K/V it appended
    return Head(*x, *final_norm_, *embed_, *h, logits);
  }

 private:
  enum class Pass { kEncode, kDecode };

  // The embedding as a Linear [D, V] (its transpose), so that probs [C, V] @ embed is one Linear on the device.
  // Synthetic weights described for the device are random values of the same distribution either way: their
  // description is reused as a [D, V] matrix.
  Result<std::unique_ptr<DeviceLinear>> LoadTransposedEmbedding(WeightLoader& loader, const std::string& name) {
    FP4LAB_ASSIGN_OR_RETURN(LinearWeights w, loader.Dense(name, "embedding (self-conditioning)"));
    const int64_t V = w.out_features, D = w.in_features;
    if (!w.synthetic) {
      std::vector<uint16_t> transposed(w.bf16.size());
      for (int64_t v = 0; v < V; ++v) {
        for (int64_t k = 0; k < D; ++k) transposed[k * V + v] = w.bf16[v * D + k];
      }
      w.bf16 = std::move(transposed);
    }
    w.name = name + ".T";
    w.out_features = D;
    w.in_features = V;
    return backend().PrepareLinear(w);
  }

  // A [canvas_length, vocab] device buffer in `buffer`, allocated on first use.
  Status EnsureCanvasBuffer(std::unique_ptr<DeviceTensor>& buffer) {
    if (buffer) return Status::Ok();
    FP4LAB_ASSIGN_OR_RETURN(buffer, backend().Allocate(canvas_length_, vocab_size()));
    return Status::Ok();
  }

  // One decoder pass over `canvas` (validated by the caller; sc_probs_ ready when self_conditioned_) into
  // device_logits_, which then holds raw logits: whatever processed logits it kept are gone.
  Status DecodeCanvas(std::span<const int32_t> canvas) {
    processed_logits_kept_ = false;
    FP4LAB_RETURN_IF_ERROR(EnsureCanvasBuffer(device_logits_));
    FP4LAB_RETURN_IF_ERROR(UploadSlidingPositions());
    pass_ = Pass::kDecode;
    const Status decoded = ForwardScratch(canvas, *cache_, 0, *device_logits_);
    pass_ = Pass::kEncode;
    return decoded;
  }

  // The positions the attention op reads on a sliding layer's canvas rows: the canvas positions shifted down so that
  // the committed context a row sees (all positions from its sequence's start, Backend::Attention with window 0)
  // begins sliding_window - 1 positions before the canvas. RoPE keeps the true positions.
  Status UploadSlidingPositions() {
    const int64_t committed = committed_tokens();
    const int64_t kept = std::min<int64_t>(committed, std::max(gemma4().decoder.sliding_window - 1, 0));
    std::vector<int32_t> positions(static_cast<size_t>(canvas_length_));
    for (int i = 0; i < canvas_length_; ++i) positions[i] = static_cast<int32_t>(kept + i);
    if (!sliding_positions_) {
      FP4LAB_ASSIGN_OR_RETURN(sliding_positions_, backend().AllocateIndices(canvas_length_));
    }
    return backend().UploadIndices(positions, *sliding_positions_);
  }

  // x = unscaled_norm(x + self_conditioning_mlp(pre_norm(probs @ embed * sqrt(D)))); the MLP term is exactly zero
  // without self-conditioning (a zero input stays zero through the norm, the gated product and down_proj).
  Status SelfCondition(StepBuffers& step, DeviceTensor& x, DeviceTensor& h, DeviceTensor& m) {
    const DecoderConfig& d = gemma4().decoder;
    const int64_t D = d.hidden_size;
    Backend& b = backend();
    if (self_conditioned_) {
      FP4LAB_RETURN_IF_ERROR(Linear(*sc_probs_, *embed_transposed_, h));
      FP4LAB_RETURN_IF_ERROR(b.Scale(h, std::sqrt(static_cast<float>(D))));
      FP4LAB_RETURN_IF_ERROR(b.RmsNorm(h, *sc_pre_norm_, D, d.rms_norm_eps, 0.0f, h));
      FP4LAB_RETURN_IF_ERROR(GatedMlp(step, sc_mlp_, Activation::kGeluTanh, h, m));
      FP4LAB_RETURN_IF_ERROR(b.AddInPlace(x, m));
    }
    return b.UnscaledRmsNorm(x, D, d.rms_norm_eps, x);
  }

  // A cache of one sequence holding at least `positions`: allocated on first use, and when it must grow, replaced by
  // one twice as large (at most max_context) holding the committed rows.
  Status EnsureCapacity(int64_t positions) {
    if (cache_ && cache_->capacity >= positions) return Status::Ok();
    const int64_t capacity =
        std::min<int64_t>(max_context(), std::max<int64_t>(positions, cache_ ? 2 * cache_->capacity : 1024));
    FP4LAB_ASSIGN_OR_RETURN(auto grown, NewCache(capacity, 1));
    if (cache_) {
      for (size_t l = 0; l < cache_->k.size(); ++l) {
        for (auto [from, to] : {std::pair{cache_->k[l].get(), grown->k[l].get()},
                                std::pair{cache_->v[l].get(), grown->v[l].get()}}) {
          std::vector<float> old(static_cast<size_t>(from->size())), rows(static_cast<size_t>(to->size()), 0.0f);
          FP4LAB_RETURN_IF_ERROR(backend().Download(*from, old));
          std::copy(old.begin(), old.end(), rows.begin());  // row-major [capacity, width]: the prefix
          FP4LAB_RETURN_IF_ERROR(backend().Upload(rows, *to));
        }
      }
      grown->lengths[0] = cache_->lengths[0];
    }
    cache_ = std::move(grown);
    return Status::Ok();
  }

  int canvas_length_;
  const TensorManifest& encoder_experts_manifest_;
  std::unique_ptr<DeviceLinear> embed_;             // [V, D], also the output head
  std::unique_ptr<DeviceLinear> embed_transposed_;  // [D, V]: self-conditioning's probs @ embed
  std::vector<Layer> layers_;                       // model.decoder.layers.*, shared with the encoder
  std::vector<AttentionLayout> decoder_layouts_;    // per layer: its layout, bidirectional and unwindowed
  std::vector<ExpertsWeights> encoder_experts_;     // per layer: the encoder's own experts, or empty (shared)
  std::vector<float> encoder_layer_scalars_;        // model.encoder.language_model.layers.<l>.layer_scalar
  std::unique_ptr<DeviceTensor> final_norm_;
  std::unique_ptr<DeviceTensor> sc_pre_norm_;       // [1, D]
  GatedMlpWeights sc_mlp_;
  std::unique_ptr<KvCache> cache_;                  // the committed context (one sequence), null until Commit
  std::unique_ptr<DeviceTensor> no_logits_;         // the encoder writes no logits
  std::unique_ptr<DeviceTensor> device_logits_;     // [C, V]: a pass's logits, processed in place by DenoiseStep
  std::unique_ptr<DeviceTensor> sc_probs_;          // [C, V]: self-conditioning probabilities
  std::unique_ptr<DeviceIndices> sliding_positions_;  // [C]: UploadSlidingPositions
  Pass pass_ = Pass::kEncode;  // kDecode only inside DecodeCanvas
  bool self_conditioned_ = false;
  bool processed_logits_kept_ = false;  // device_logits_ holds the last DenoiseStep's processed logits
};

class DiffusionGemmaBlueprint : public ModelBlueprint {
 public:
  explicit DiffusionGemmaBlueprint(DiffusionGemmaConfig config) : c_(std::move(config)) {
    const DecoderConfig& d = c_.text.decoder;
    const std::string decoder = kDecoder;
    manifest_.AddEmbedding(decoder + "embed_tokens.weight", d.model.vocab_size, d.hidden_size);
    for (int l = 0; l < d.num_layers; ++l) {
      AddGemma4LayerTensors(manifest_, c_.text, LayerPrefix(kDecoder, l), l);
      manifest_.AddVector(LayerPrefix(kEncoder, l) + "layer_scalar", "norms", 1);
    }
    manifest_.AddVector(decoder + "norm.weight", "norms", d.hidden_size);
    const std::string sc = decoder + "self_conditioning.";
    manifest_.AddVector(sc + "pre_norm.weight", "self_conditioning", d.hidden_size);
    manifest_.AddLinear(sc + "gate_proj", "self_conditioning", d.intermediate_size, d.hidden_size, sc + "gate_up_proj");
    manifest_.AddLinear(sc + "up_proj", "self_conditioning", d.intermediate_size, d.hidden_size, sc + "gate_up_proj");
    manifest_.AddLinear(sc + "down_proj", "self_conditioning", d.hidden_size, d.intermediate_size);
    for (int l = 0; l < d.num_layers; ++l) AddGemma4ExpertsTensors(encoder_experts_, c_.text, LayerPrefix(kEncoder, l));
  }

  const ModelConfig& config() const override { return c_.text.decoder.model; }
  const TensorManifest& manifest() const override { return manifest_; }
  std::vector<int64_t> KvWidths() const override { return Gemma4KvWidths(c_.text); }
  // Plus the self-conditioning probabilities row (vocab) and its soft embedding.
  int64_t ActivationFloatsPerRow() const override {
    return Gemma4ActivationFloatsPerRow(c_.text, c_.text.decoder.model.vocab_size);
  }
  Result<std::unique_ptr<Model>> Load(WeightLoader& loader, Backend& backend) const override {
    auto model = std::make_unique<DiffusionGemmaModel>(c_, manifest_, encoder_experts_, backend);
    FP4LAB_RETURN_IF_ERROR(model->Load(loader));
    return std::unique_ptr<Model>(std::move(model));
  }

 private:
  DiffusionGemmaConfig c_;
  TensorManifest manifest_;
  // The encoder's own experts, not in the manifest (tied to the decoder's in transformers; parameters counted once):
  // loaded only from a checkpoint that stores them.
  TensorManifest encoder_experts_;
};

Result<std::unique_ptr<ModelBlueprint>> ParseDiffusionGemma(const nlohmann::json& json, const std::string& path) {
  const ConfigReader top(json, path);
  FP4LAB_RETURN_IF_ERROR(top.CheckObject());
  if (!top.Has("text_config")) return top.Error("text_config", "is missing (a diffusion_gemma config nests it)");
  FP4LAB_ASSIGN_OR_RETURN(const ConfigReader r, top.Child("text_config"));
  DiffusionGemmaConfig c;
  FP4LAB_ASSIGN_OR_RETURN(c.text.decoder, ParseDecoderConfig(r, "diffusion_gemma", "gelu_pytorch_tanh"));
  c.text.decoder.model.model_type = "diffusion_gemma";
  c.text.decoder.model.block_diffusion = true;
  FP4LAB_RETURN_IF_ERROR(ParseGemma4Backbone(r, /*diffusion_defaults=*/true, c.text));
  FP4LAB_ASSIGN_OR_RETURN(const int64_t canvas, top.OptionalInt("canvas_length", 256, 1, kMaxContext));
  if (canvas >= c.text.decoder.model.max_position_embeddings) {
    return top.Error("canvas_length", "is " + std::to_string(canvas) + ", expected less than text_config." +
                                          "max_position_embeddings (" +
                                          std::to_string(c.text.decoder.model.max_position_embeddings) + ")");
  }
  c.canvas_length = static_cast<int>(canvas);
  c.text.decoder.model.canvas_length = c.canvas_length;
  return std::unique_ptr<ModelBlueprint>(new DiffusionGemmaBlueprint(std::move(c)));
}

}  // namespace

ArchitectureSpec DiffusionGemmaArchitecture() {
  return {"diffusion_gemma", {"diffusion_gemma"}, &ParseDiffusionGemma};
}

}  // namespace fp4lab
