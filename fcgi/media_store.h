/*
 * The media stores of encoded images: files in the local media folder,
 * served by the web server under BLINKCHAT_MEDIA_URL, or Cloudinary when
 * its three credentials are configured. The uploads handler saves through this
 * module and removes what it saved when the database insert fails, so no
 * stored file outlives a failed upload.
 */
#ifndef BLINKCHAT_MEDIA_STORE_H
#define BLINKCHAT_MEDIA_STORE_H

#include <stddef.h>

#include "image.h"

/* The location of one stored image; the fields map to the uploads table. */
struct stored_image {
    const char *store;     /* "local" or "cloudinary" */
    char storage_key[256]; /* local: display file name; cloudinary: public_id */
    char url[1024];
    char thumb_url[1024];
};

/*
 * Creates an empty temporary file with a random name in the folder
 * .incoming of the media folder for an incoming upload, writing its path
 * into path. Returns the open descriptor, or -1 after logging. The caller
 * unlinks the file. The first call of a process also removes files that
 * are over an hour old there, left by processes that died.
 */
int media_store_create_temp(char *path, size_t path_size);

/*
 * Stores the display version and thumbnail of img and fills *out. Returns
 * 0, or -1 after logging and writing a message for the client into
 * message; nothing is left stored on failure.
 */
int media_store_save(const struct image *img, struct stored_image *out, char *message,
                     size_t message_size);

/* Deletes what media_store_save() stored; failures are logged only. */
void media_store_remove(const struct stored_image *stored);

#endif
