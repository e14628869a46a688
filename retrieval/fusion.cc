// Placeholder while the retrieval issue is built; see retrieval/fusion.h once it lands.
namespace engram::retrieval {}
