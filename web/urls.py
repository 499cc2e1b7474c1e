"""Browser routes. `/<owner>/<name>` catches two-segment paths, so it stays last."""

from django.contrib.auth import views as auth_views
from django.urls import path

from web.views import accounts, deployments, galleries, models, predictions, spend, trainings

urlpatterns = [
    # accounts
    path("signup", accounts.signup, name="signup"),
    path("login", accounts.Login.as_view(), name="login"),
    path("logout", auth_views.LogoutView.as_view(), name="logout"),
    path("account", accounts.account, name="account"),
    path("avatars/<str:username>.svg", accounts.avatar, name="avatar"),
    path("account/password", accounts.PasswordChange.as_view(), name="password-change"),
    path("account/tokens", accounts.create_token, name="token-create"),
    path("account/retention", accounts.change_retention, name="retention-change"),
    path("account/spend", spend.account_spend, name="account-spend"),
    path("account/spend.csv", spend.account_spend_csv, name="account-spend-csv"),
    path("account/tokens/<int:token_id>/revoke", accounts.revoke_token, name="token-revoke"),
    path("orgs/new", accounts.new_organization, name="organization-new"),
    path("orgs/<str:name>/invitation", accounts.answer_invitation, name="invitation-answer"),
    path("orgs/<str:name>", accounts.organization, name="organization"),
    path("orgs/<str:name>/spend", spend.org_spend, name="organization-spend"),
    path("orgs/<str:name>/spend.csv", spend.org_spend_csv, name="organization-spend-csv"),
    path("orgs/<str:name>/members", accounts.invite, name="organization-invite"),
    path("orgs/<str:name>/members/<str:username>/role", accounts.change_role, name="organization-role"),
    path("orgs/<str:name>/members/<str:username>/remove", accounts.remove_member, name="organization-remove"),
    # the playground
    path("", models.explore, name="explore"),
    path("history", predictions.history, name="history"),
    path("p/<str:prediction_id>", predictions.prediction_page, name="prediction"),
    path("p/<str:prediction_id>/cancel", predictions.cancel, name="prediction-cancel"),
    path("p/<str:prediction_id>/again", predictions.run_again, name="prediction-again"),
    path("p/<str:prediction_id>/remove", predictions.remove_data, name="prediction-remove"),
    path("p/<str:prediction_id>/share", galleries.share, name="prediction-share"),
    path("p/<str:prediction_id>/gallery", galleries.gallery_add, name="prediction-gallery-add"),
    path("galleries", galleries.gallery_list, name="galleries"),
    path("galleries/<str:org_name>", galleries.gallery, name="gallery"),
    path("galleries/<str:org_name>/items/<int:item_id>/star", galleries.gallery_star, name="gallery-star"),
    path("galleries/<str:org_name>/items/<int:item_id>/remove", galleries.gallery_remove, name="gallery-remove"),
    path("deployments", deployments.deployment_list, name="deployments"),
    path("deployments/new", deployments.deployment_new, name="deployment-new"),
    path("deployments/<str:owner>/<str:name>", deployments.deployment_page, name="deployment"),
    path("deployments/<str:owner>/<str:name>/predictions", deployments.run, name="deployment-run"),
    path("deployments/<str:owner>/<str:name>/edit", deployments.deployment_edit, name="deployment-edit"),
    path("deployments/<str:owner>/<str:name>/delete", deployments.deployment_delete, name="deployment-delete"),
    path("t/<str:training_id>", trainings.training_page, name="training"),
    path("t/<str:training_id>/cancel", trainings.cancel, name="training-cancel"),
    path("<str:owner>/<str:name>/predict", models.predict, name="model-predict"),
    path("<str:owner>/<str:name>/train", models.train, name="model-train"),
    path("<str:owner>/<str:name>/network", models.network, name="model-network"),
    path("<str:owner>/<str:name>/settings", models.model_settings, name="model-settings"),
    path("<str:owner>/<str:name>", models.model_page, name="model"),
]
