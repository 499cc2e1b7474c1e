"""Browser routes. `/<owner>/<name>` catches two-segment paths, so it stays last."""

from django.urls import path

from playground import web, web_galleries, web_predictions

urlpatterns = [
    path("", web.explore, name="explore"),
    path("history", web_predictions.history, name="history"),
    path("p/<str:prediction_id>", web_predictions.prediction_page, name="prediction"),
    path("p/<str:prediction_id>/cancel", web_predictions.cancel, name="prediction-cancel"),
    path("p/<str:prediction_id>/remove", web_predictions.remove_data, name="prediction-remove"),
    path("p/<str:prediction_id>/share", web_galleries.share, name="prediction-share"),
    path("p/<str:prediction_id>/gallery", web_galleries.gallery_add, name="prediction-gallery-add"),
    path("galleries", web_galleries.gallery_list, name="galleries"),
    path("galleries/<str:org_name>", web_galleries.gallery, name="gallery"),
    path("galleries/<str:org_name>/items/<int:item_id>/star", web_galleries.gallery_star, name="gallery-star"),
    path("galleries/<str:org_name>/items/<int:item_id>/remove", web_galleries.gallery_remove,
         name="gallery-remove"),
    path("<str:owner>/<str:name>/predict", web.predict, name="model-predict"),
    path("<str:owner>/<str:name>", web.model_page, name="model"),
]
