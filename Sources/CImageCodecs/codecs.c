#include "CImageCodecs.h"

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <png.h>
#include <jpeglib.h>
#include <jerror.h>

static void set_message(codec_error *error, const char *format, ...) {
    va_list arguments;
    va_start(arguments, format);
    vsnprintf(error->message, sizeof error->message, format, arguments);
    va_end(arguments);
}

static void set_system_error(codec_error *error, int number) {
    error->error_number = number;
    set_message(error, "%s", strerror(number));
}

// Adds a reason after the library's message: "Read Error: the file ends early".
static void append_reason(codec_error *error, const char *reason) {
    char library_message[sizeof error->message];
    memcpy(library_message, error->message, sizeof library_message);
    set_message(error, "%s: %s", library_message, reason);
}

static int is_little_endian(void) {
    const uint16_t one = 1;
    return *(const uint8_t *)&one == 1;
}

// Whether rows of row_bytes times height can be counted in a size_t: a caller may raise
// max_pixels far enough for the product to wrap around, and malloc would then get too small a size.
static int fits_in_memory(size_t row_bytes, uint32_t height) {
    return height == 0 || row_bytes <= SIZE_MAX / height;
}

static uint32_t big_endian_uint32(const unsigned char *bytes) {
    return (uint32_t)bytes[0] << 24 | (uint32_t)bytes[1] << 16 | (uint32_t)bytes[2] << 8 | bytes[3];
}

// MARK: - libpng

static void on_png_error(png_structp png, png_const_charp message) {
    set_message(png_get_error_ptr(png), "%s", message);
    png_longjmp(png, 1);
}

// libpng warns about harmless things (an sRGB profile it dislikes); printing them would only confuse.
static void on_png_warning(png_structp png, png_const_charp message) {
    (void)png;
    (void)message;
}

static codec_status read_png(FILE *file, uint64_t max_pixels, codec_image *image, codec_error *error) {
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, error, on_png_error, on_png_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!info) {
        png_destroy_read_struct(&png, NULL, NULL);
        set_message(error, "out of memory");
        return CODEC_OUT_OF_MEMORY;
    }
    // Assigned after setjmp, so it must be volatile to be trusted after the jump back.
    png_bytep *volatile rows = NULL;
    if (setjmp(png_jmpbuf(png))) {
        free(rows);
        free(image->samples);
        image->samples = NULL;
        png_destroy_read_struct(&png, &info, NULL);
        // libpng's own words for a short file are just "Read Error".
        if (feof(file)) append_reason(error, "the file ends early");
        return CODEC_CORRUPT;
    }
    png_init_io(png, file);
    // The caller's max_pixels is the limit that matters, not libpng's default of a million per side.
    png_set_user_limits(png, PNG_UINT_31_MAX, PNG_UINT_31_MAX);
    png_read_info(png, info);

    image->width = png_get_image_width(png, info);
    image->height = png_get_image_height(png, info);
    if ((uint64_t)image->width * image->height > max_pixels) {
        png_destroy_read_struct(&png, &info, NULL);
        return CODEC_TOO_LARGE;
    }
    // Palette to RGB, 1/2/4-bit grey to 8-bit, a tRNS transparent colour to an alpha channel.
    png_set_expand(png);
    if (png_get_bit_depth(png, info) == 16 && is_little_endian()) png_set_swap(png);
    png_set_interlace_handling(png);
    png_read_update_info(png, info);

    image->channels = png_get_channels(png, info);
    image->bytes_per_sample = png_get_bit_depth(png, info) == 16 ? 2 : 1;
    size_t row_bytes = png_get_rowbytes(png, info);
    if (fits_in_memory(row_bytes, image->height)) {
        image->samples = malloc(row_bytes * image->height);
        rows = malloc(sizeof(png_bytep) * image->height);
    }
    if (!image->samples || !rows) {
        free(rows);
        free(image->samples);
        image->samples = NULL;
        png_destroy_read_struct(&png, &info, NULL);
        set_message(error, "out of memory for %u x %u pixels", image->width, image->height);
        return CODEC_OUT_OF_MEMORY;
    }
    for (uint32_t y = 0; y < image->height; y++) rows[y] = (png_bytep)image->samples + y * row_bytes;
    png_read_image(png, rows);
    // The pixels are complete here; chunks after the image data (png_read_end) hold nothing we use.
    free(rows);
    png_destroy_read_struct(&png, &info, NULL);
    return CODEC_OK;
}

// MARK: - libjpeg

typedef struct {
    struct jpeg_error_mgr manager;  // first, so that libjpeg's pointer to it is also a pointer to this
    jmp_buf jump;
} jpeg_failure;

static void on_jpeg_error(j_common_ptr jpeg) {
    longjmp(((jpeg_failure *)jpeg->err)->jump, 1);
}

// libjpeg only warns when the data ends early and fills the rest of the image with grey; a
// truncated file must be an error. Other warnings (stray bytes between markers) are harmless.
static void on_jpeg_message(j_common_ptr jpeg, int level) {
    if (level < 0 && jpeg->err->msg_code == JWRN_JPEG_EOF) on_jpeg_error(jpeg);
}

static void use_jpeg_failure(struct jpeg_error_mgr **slot, jpeg_failure *failure) {
    *slot = jpeg_std_error(&failure->manager);
    failure->manager.error_exit = on_jpeg_error;
    failure->manager.emit_message = on_jpeg_message;
}

static void copy_jpeg_message(j_common_ptr jpeg, codec_error *error) {
    char text[JMSG_LENGTH_MAX];
    jpeg->err->format_message(jpeg, text);
    set_message(error, "%s", text);
}

static codec_status read_jpeg(FILE *file, uint64_t max_pixels, codec_image *image, codec_error *error) {
    struct jpeg_decompress_struct jpeg;
    jpeg_failure failure;
    use_jpeg_failure(&jpeg.err, &failure);
    if (setjmp(failure.jump)) {
        copy_jpeg_message((j_common_ptr)&jpeg, error);
        codec_status status = failure.manager.msg_code == JERR_EMPTY_IMAGE ? CODEC_ZERO_SIZE : CODEC_CORRUPT;
        jpeg_destroy_decompress(&jpeg);
        free(image->samples);
        image->samples = NULL;
        return status;
    }
    jpeg_create_decompress(&jpeg);
    jpeg_stdio_src(&jpeg, file);
    jpeg_read_header(&jpeg, TRUE);

    image->width = jpeg.image_width;
    image->height = jpeg.image_height;
    if ((uint64_t)image->width * image->height > max_pixels) {
        jpeg_destroy_decompress(&jpeg);
        return CODEC_TOO_LARGE;
    }
    switch (jpeg.jpeg_color_space) {
    case JCS_CMYK:
    case JCS_YCCK:
        jpeg_destroy_decompress(&jpeg);
        set_message(error, "CMYK JPEG images are not supported; convert it to RGB first");
        return CODEC_UNSUPPORTED;
    case JCS_GRAYSCALE:
        jpeg.out_color_space = JCS_GRAYSCALE;
        break;
    default:
        jpeg.out_color_space = JCS_RGB;
        break;
    }
    jpeg_start_decompress(&jpeg);

    image->channels = jpeg.output_components;
    image->bytes_per_sample = 1;
    size_t row_bytes = (size_t)jpeg.output_width * jpeg.output_components;
    if (fits_in_memory(row_bytes, jpeg.output_height)) image->samples = malloc(row_bytes * jpeg.output_height);
    if (!image->samples) {
        jpeg_destroy_decompress(&jpeg);
        set_message(error, "out of memory for %u x %u pixels", image->width, image->height);
        return CODEC_OUT_OF_MEMORY;
    }
    while (jpeg.output_scanline < jpeg.output_height) {
        JSAMPROW row = (JSAMPROW)image->samples + jpeg.output_scanline * row_bytes;
        jpeg_read_scanlines(&jpeg, &row, 1);
    }
    jpeg_finish_decompress(&jpeg);
    jpeg_destroy_decompress(&jpeg);
    return CODEC_OK;
}

// MARK: - Reading

codec_status codec_read_image(const char *path, uint64_t max_pixels, codec_image *image, codec_error *error) {
    memset(image, 0, sizeof *image);
    memset(error, 0, sizeof *error);
    FILE *file = fopen(path, "rb");
    if (!file) {
        set_system_error(error, errno);
        return CODEC_CANNOT_OPEN;
    }
    // fopen happily opens a directory; reading it would fail with a less clear message.
    struct stat file_status;
    if (fstat(fileno(file), &file_status) == 0 && S_ISDIR(file_status.st_mode)) {
        fclose(file);
        set_system_error(error, EISDIR);
        return CODEC_CANNOT_OPEN;
    }
    // Room for PNG's signature and its first chunk's header up to the width and height.
    unsigned char head[24];
    size_t head_length = fread(head, 1, sizeof head, file);
    rewind(file);

    static const unsigned char png_signature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
    codec_status status;
    if (head_length >= 8 && memcmp(head, png_signature, 8) == 0) {
        // libpng rejects a zero width or height only as "Invalid IHDR data"; say what is wrong.
        if (head_length == 24 && memcmp(head + 12, "IHDR", 4) == 0
            && (big_endian_uint32(head + 16) == 0 || big_endian_uint32(head + 20) == 0)) {
            set_message(error, "the PNG header says %u x %u pixels", big_endian_uint32(head + 16),
                        big_endian_uint32(head + 20));
            status = CODEC_ZERO_SIZE;
        } else {
            status = read_png(file, max_pixels, image, error);
        }
    } else if (head_length >= 3 && head[0] == 0xFF && head[1] == 0xD8 && head[2] == 0xFF) {
        status = read_jpeg(file, max_pixels, image, error);
    } else {
        set_message(error, "neither a PNG nor a JPEG signature");
        status = CODEC_UNKNOWN_FORMAT;
    }
    fclose(file);
    return status;
}

void codec_free_image(codec_image *image) {
    free(image->samples);
    image->samples = NULL;
}

// MARK: - Writing

static FILE *create_new_file(const char *path, codec_error *error) {
    int descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (descriptor < 0) {
        set_system_error(error, errno);
        return NULL;
    }
    FILE *file = fdopen(descriptor, "wb");
    if (!file) {
        set_system_error(error, errno);
        close(descriptor);
    }
    return file;
}

// The data must reach the disk before the caller renames the file into place: otherwise a crash
// could leave the new name pointing at an empty file.
static codec_status close_written_file(FILE *file, const char *path, codec_error *error) {
    int number = 0;
    if (fflush(file) != 0 || fsync(fileno(file)) != 0) number = errno;
    if (fclose(file) != 0 && number == 0) number = errno;
    if (number == 0) return CODEC_OK;
    set_system_error(error, number);
    unlink(path);
    return CODEC_WRITE_FAILED;
}

// After a library error while writing: adds the system's reason when the stream failed, and
// removes the half-written file.
static void abandon_written_file(FILE *file, const char *path, codec_error *error) {
    if (ferror(file) && errno != 0) {
        error->error_number = errno;
        append_reason(error, strerror(errno));
    }
    fclose(file);
    unlink(path);
}

codec_status codec_write_png(const char *path, const uint8_t *rgb, uint32_t width, uint32_t height,
                             codec_error *error) {
    memset(error, 0, sizeof *error);
    FILE *file = create_new_file(path, error);
    if (!file) return CODEC_WRITE_FAILED;
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, error, on_png_error, on_png_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!info) {
        png_destroy_write_struct(&png, NULL);
        fclose(file);
        unlink(path);
        set_message(error, "out of memory");
        return CODEC_OUT_OF_MEMORY;
    }
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        abandon_written_file(file, path, error);
        return CODEC_WRITE_FAILED;
    }
    png_init_io(png, file);
    // zlib's level 3 instead of its default 6: writing a 2048x2048 photo took 0.5 s instead of 1.5 s, for a file
    // 10% larger.
    png_set_compression_level(png, 3);
    png_set_IHDR(png, info, width, height, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    for (uint32_t y = 0; y < height; y++) png_write_row(png, rgb + (size_t)y * width * 3);
    png_write_end(png, info);
    png_destroy_write_struct(&png, &info);
    return close_written_file(file, path, error);
}

codec_status codec_write_jpeg(const char *path, const uint8_t *rgb, uint32_t width, uint32_t height, int quality,
                              codec_error *error) {
    memset(error, 0, sizeof *error);
    FILE *file = create_new_file(path, error);
    if (!file) return CODEC_WRITE_FAILED;
    struct jpeg_compress_struct jpeg;
    jpeg_failure failure;
    use_jpeg_failure(&jpeg.err, &failure);
    if (setjmp(failure.jump)) {
        copy_jpeg_message((j_common_ptr)&jpeg, error);
        jpeg_destroy_compress(&jpeg);
        abandon_written_file(file, path, error);
        return CODEC_WRITE_FAILED;
    }
    jpeg_create_compress(&jpeg);
    jpeg_stdio_dest(&jpeg, file);
    jpeg.image_width = width;
    jpeg.image_height = height;
    jpeg.input_components = 3;
    jpeg.in_color_space = JCS_RGB;
    jpeg_set_defaults(&jpeg);
    jpeg_set_quality(&jpeg, quality, TRUE);
    jpeg_start_compress(&jpeg, TRUE);
    while (jpeg.next_scanline < jpeg.image_height) {
        // libjpeg's row type is not const, but it only reads the rows it is given.
        JSAMPROW row = (JSAMPROW)(rgb + (size_t)jpeg.next_scanline * width * 3);
        jpeg_write_scanlines(&jpeg, &row, 1);
    }
    jpeg_finish_compress(&jpeg);
    jpeg_destroy_compress(&jpeg);
    return close_written_file(file, path, error);
}
