"""Console pages of stored analysis runs (`/console/studies/{id}/analyses`): every run that
`vakstem analyse` saved, newest first, with its provenance (data and plan hashes, seed,
version), what changed in the responses since the latest one (completes it could not include,
withdrawals it still counts), and each run's report as a download. Viewers may see them: the
stored results hold aggregates only (open answers as theme counts)."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from starlette.responses import HTMLResponse, Response

from vakstem.service.accounts import Role
from vakstem.store.analysis_runs import changes_since, get_run, list_runs
from vakstem.web.console.auth import ConsoleAuth, StudyAccess
from vakstem.web.console.i18n import ConsoleCatalogues
from vakstem.web.console.study_page import study_page
from vakstem.web.context import WebContext


def build_router(web: WebContext, auth: ConsoleAuth) -> APIRouter:
    router = APIRouter(prefix="/console/studies/{study_id}/analyses", include_in_schema=False)
    engine = web.engine
    catalogues = ConsoleCatalogues(web.catalogues)

    async def access_of(request: Request, study_id: str) -> StudyAccess:
        return await auth.page_access(request, study_id, Role.VIEWER)

    @router.get("")
    async def runs(request: Request, study_id: str) -> Response:
        access = await access_of(request, study_id)
        lang = catalogues.language(request.query_params.get("lang") or None)
        listed = await run_in_threadpool(list_runs, engine, study_id)
        since = (
            await run_in_threadpool(changes_since, engine, study_id, listed[0].created_at)
            if listed
            else None
        )
        return study_page(
            web,
            auth,
            catalogues,
            request,
            access,
            "console/analyses.html",
            lang,
            runs=listed,
            since=since,
        )

    @router.get("/{run_id}/report.html")
    async def report(request: Request, study_id: str, run_id: int) -> Response:
        await access_of(request, study_id)
        run = await run_in_threadpool(get_run, engine, study_id, run_id)
        if run is None:
            raise HTTPException(404, detail="no stored analysis run with this number")
        # Imported here: the report brings matplotlib and scipy, which a web worker should not
        # load at start-up for a page that few requests ask for.
        from vakstem.analysis.report import render_report

        html = await run_in_threadpool(render_report, run.results)
        stamp = run.created_at.strftime("%Y%m%d-%H%M")
        return HTMLResponse(
            html,
            headers={
                # A download, opened from disk: the report carries its own styles and figures,
                # which the console's content security policy would not let run here.
                "content-disposition": f'attachment; filename="{study_id}-analysis-{stamp}.html"',
                "cache-control": "no-store",
            },
        )

    return router
