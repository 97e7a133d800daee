// The C side of image reading and writing: libpng and libjpeg-turbo behind a few functions that
// never longjmp into Swift. Both libraries report errors by longjmp, which Swift cannot catch, so
// every call here sets its own jump point and turns a library error into a status and a message.
#ifndef CIMAGECODECS_H
#define CIMAGECODECS_H

#include <stddef.h>
#include <stdint.h>

typedef enum {
    CODEC_OK = 0,
    CODEC_CANNOT_OPEN,      // the file could not be opened for reading; see error_number
    CODEC_UNKNOWN_FORMAT,   // the first bytes are neither PNG's nor JPEG's signature
    CODEC_CORRUPT,          // the decoder gave up: truncated or damaged data
    CODEC_TOO_LARGE,        // width * height is over the caller's limit; nothing was decoded
    CODEC_ZERO_SIZE,        // the header says zero width or height
    CODEC_UNSUPPORTED,      // a valid file of a kind we do not decode (CMYK JPEG)
    CODEC_OUT_OF_MEMORY,
    CODEC_WRITE_FAILED,     // see error_number when the system gave one
} codec_status;

typedef struct {
    int error_number;       // errno when a system call failed, else 0
    char message[256];      // one line, the library's own words where it gave any
} codec_error;

typedef struct {
    uint32_t width;
    uint32_t height;
    int channels;           // 1 grey, 2 grey + alpha, 3 RGB, 4 RGBA; interleaved
    int bytes_per_sample;   // 1, or 2 (16-bit PNG, in native byte order)
    void *samples;          // height rows of width * channels samples; free with codec_free_image
} codec_image;

/// Decodes a PNG or JPEG file, recognised by its first bytes. Images with more than max_pixels
/// pixels are refused from the header alone, before any pixel memory is allocated; the header's
/// width and height are still filled in so that the caller can say how large the image was.
codec_status codec_read_image(const char *path, uint64_t max_pixels, codec_image *image, codec_error *error);

void codec_free_image(codec_image *image);

/// Writes 8-bit interleaved RGB to a new file at path, which must not exist yet (it is created
/// exclusively, so a caller's temporary name can never clobber another file). The file is synced
/// to disk on success and removed on failure.
codec_status codec_write_png(const char *path, const uint8_t *rgb, uint32_t width, uint32_t height,
                             codec_error *error);

/// As codec_write_png; quality is libjpeg's 1...100 scale.
codec_status codec_write_jpeg(const char *path, const uint8_t *rgb, uint32_t width, uint32_t height, int quality,
                              codec_error *error);

#endif
