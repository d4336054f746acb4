/* Image uploads. */
#include "api.h"

/* NOTE: uploads are not implemented yet; the route answers 501 so that
 * clients get a clear error instead of a 404. */
void uploads_create(struct request *req)
{
    req->status = 501;
    respond_raw_json(req, 501, "{\"error\":{\"code\":\"not_implemented\","
                               "\"message\":\"image uploads are not available yet\"}}");
}
