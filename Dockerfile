# The Sluice image that install/sluice.yaml runs:
#   docker build -t REGISTRY/sluice:TAG .   then set that name in install/sluice.yaml (or `kustomize edit set image`).
FROM node:20-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY src src
RUN npx tsc -p tsconfig.json

FROM node:20-slim
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY bin bin
COPY protos protos
COPY --from=build /app/dist/src dist/src
# The image's `node` user, by number so that Kubernetes' runAsNonRoot can check it.
USER 1000:1000
EXPOSE 9977 9091
ENTRYPOINT ["node", "/app/bin/sluice"]
