# AkkaMail: build with the .NET SDK, run on the ASP.NET runtime as a non-root user.
#   docker build -t akkamail .          (docker compose up builds it for you)

FROM mcr.microsoft.com/dotnet/sdk:10.0 AS build
WORKDIR /src
# Restore first, from the project files only, so the package layer is cached until a csproj changes.
COPY global.json Directory.Build.props Directory.Packages.props ./
COPY src/AkkaMail.Domain/AkkaMail.Domain.csproj src/AkkaMail.Domain/
COPY src/AkkaMail.Mailgun/AkkaMail.Mailgun.csproj src/AkkaMail.Mailgun/
COPY src/AkkaMail.Smtp/AkkaMail.Smtp.csproj src/AkkaMail.Smtp/
COPY src/AkkaMail.Amqp/AkkaMail.Amqp.csproj src/AkkaMail.Amqp/
COPY src/AkkaMail.Persistence.MongoDb/AkkaMail.Persistence.MongoDb.csproj src/AkkaMail.Persistence.MongoDb/
COPY src/AkkaMail.Persistence.Sqlite/AkkaMail.Persistence.Sqlite.csproj src/AkkaMail.Persistence.Sqlite/
COPY src/AkkaMail.Persistence.Postgres/AkkaMail.Persistence.Postgres.csproj src/AkkaMail.Persistence.Postgres/
COPY src/AkkaMail/AkkaMail.csproj src/AkkaMail/
COPY src/AkkaMail.Api/AkkaMail.Api.csproj src/AkkaMail.Api/
RUN dotnet restore src/AkkaMail.Api/AkkaMail.Api.csproj
COPY hocon/ hocon/
COPY src/ src/
RUN dotnet publish src/AkkaMail.Api/AkkaMail.Api.csproj -c Release -o /app --no-restore -p:UseAppHost=false

FROM mcr.microsoft.com/dotnet/aspnet:10.0 AS runtime
# curl for the container health check (GET /health/live).
RUN apt-get update \
    && apt-get install -y --no-install-recommends curl \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY --from=build /app ./
# The operator's knobs; mount your own over /app/hocon/akkamail.hocon, or set any one of them in the environment
# (AkkaMail__Sender__Parallelism=32: README, "Configuration").
COPY hocon/ hocon/
# Everything the service writes (SQLite files when AkkaMail__Store=sqlite, the admin key, the sandbox outbox).
RUN mkdir -p /app/data && chown -R $APP_UID /app/data
VOLUME /app/data
ENV ASPNETCORE_HTTP_PORTS= \
    ASPNETCORE_URLS=http://0.0.0.0:8080 \
    AkkaMail__DataPath=/app/data \
    AkkaMail__HoconPath=/app/hocon/akkamail.hocon
EXPOSE 8080
# The non-root user the .NET images provide (uid 1654).
USER $APP_UID
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=5 \
    CMD curl -fsS http://127.0.0.1:8080/health/live || exit 1
ENTRYPOINT ["dotnet", "AkkaMail.Api.dll"]
