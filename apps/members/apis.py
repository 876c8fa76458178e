from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_simplejwt.views import TokenObtainPairView, TokenRefreshView

from apps.common.errors import ApplicationError
from apps.common.throttles import SettingsScopedRateThrottle
from apps.members.serializers import (
    LogoutInputSerializer,
    MeOutputSerializer,
    MeUpdateInputSerializer,
    PinOutputSerializer,
    RegisteredMemberSerializer,
    RegisterInputSerializer,
)
from apps.members.selectors import pin_list
from apps.members.services import member_logout, member_register, member_update, pin_add, pin_remove


class AuthThrottled:
    """Credential endpoints share one tight rate ("auth") so guessing passwords stays slow.

    They also ignore any Authorization header: a stale access token must not
    stop a member from signing in, refreshing or signing out.
    """

    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_classes = [SettingsScopedRateThrottle]
    throttle_scope = "auth"


class RegisterApi(AuthThrottled, APIView):
    @extend_schema(
        operation_id="auth_register",
        request=RegisterInputSerializer,
        responses={
            201: RegisteredMemberSerializer,
            400: OpenApiResponse(description="Taken username or weak password."),
        },
    )
    def post(self, request):
        serializer = RegisterInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        member = member_register(**serializer.validated_data)
        return Response(RegisteredMemberSerializer(member).data, status=status.HTTP_201_CREATED)


class TokenApi(AuthThrottled, TokenObtainPairView):
    def post(self, request, *args, **kwargs):
        try:
            return super().post(request, *args, **kwargs)
        except AuthenticationFailed:
            raise ApplicationError(
                "invalid_credentials",
                "No active member matches this username and password.",
                status_code=status.HTTP_401_UNAUTHORIZED,
                headers={"WWW-Authenticate": self.get_authenticate_header(request)},
            ) from None


class TokenRefreshApi(AuthThrottled, TokenRefreshView):
    pass


class LogoutApi(AuthThrottled, APIView):
    """Holding the refresh token is the proof: no access token is needed to give it up."""

    @extend_schema(
        operation_id="auth_logout",
        request=LogoutInputSerializer,
        responses={205: OpenApiResponse(description="The refresh token no longer works.")},
    )
    def post(self, request):
        serializer = LogoutInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        member_logout(refresh=serializer.validated_data["refresh"])
        return Response(status=status.HTTP_205_RESET_CONTENT)


class MeApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(operation_id="me_read", responses=MeOutputSerializer)
    def get(self, request):
        return Response(MeOutputSerializer(request.user).data)

    @extend_schema(operation_id="me_update", request=MeUpdateInputSerializer, responses=MeOutputSerializer)
    def patch(self, request):
        serializer = MeUpdateInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        member = member_update(member=request.user, **serializer.validated_data)
        return Response(MeOutputSerializer(member).data)


class PinListApi(APIView):
    """The caller's pins: members followed on every board (API.md "Pins")."""

    permission_classes = [IsAuthenticated]

    @extend_schema(operation_id="me_pins_list", responses={200: PinOutputSerializer(many=True)})
    def get(self, request):
        return Response(PinOutputSerializer(pin_list(member_id=request.user.pk), many=True).data)


class PinApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        operation_id="me_pins_put",
        request=None,
        responses={
            204: OpenApiResponse(description="Pinned (pinning twice is not an error)."),
            400: OpenApiResponse(description="pin_self: a member cannot pin themselves."),
            404: OpenApiResponse(description="member_not_found: no member has this id."),
            409: OpenApiResponse(description="pin_limit: 50 members are pinned already."),
        },
    )
    def put(self, request, member_id: int):
        pin_add(member_id=request.user.pk, pinned_id=member_id)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        operation_id="me_pins_delete",
        responses={204: OpenApiResponse(description="Not pinned any more (whether it was or not).")},
    )
    def delete(self, request, member_id: int):
        pin_remove(member_id=request.user.pk, pinned_id=member_id)
        return Response(status=status.HTTP_204_NO_CONTENT)
