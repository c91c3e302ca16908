// zlib for VigilKafka's gzip record batches (Debian: zlib1g-dev, which swift-nio-extras needs too).
#include <zlib.h>
