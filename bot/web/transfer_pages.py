"""The bank's import (all or nothing, every bad line shown) and export."""

from __future__ import annotations

from pathlib import Path

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bot.errors import ImportRejected, ImportTooLarge
from bot.web.app import desk_state, guarded, render, run, see_other
from bot.web.auth import Officer

MAX_IMPORT_BYTES = 20 * 1024 * 1024


def routes() -> list[Route]:
    return [
        Route("/bank/export", guarded(export_bank)),
        Route("/bank/import", guarded(import_bank), methods=["POST"]),
    ]


async def export_bank(request: Request, officer: Officer) -> Response:
    state = desk_state(request)
    data = await run(state.services.bank.export_csv_bytes)
    headers = {"Content-Disposition": 'attachment; filename="agribot-bank.csv"'}
    return Response(data, media_type="text/csv; charset=utf-8", headers=headers)


async def import_bank(request: Request, officer: Officer) -> Response:
    """All or nothing, as `agribot qa import` and a Telegram upload: every bad line shown."""
    state = desk_state(request)
    form = await request.form(max_part_size=MAX_IMPORT_BYTES)
    upload = form.get("file")
    if not isinstance(upload, UploadFile) or not upload.filename:
        return see_other("/bank")
    data = await upload.read()
    name = Path(upload.filename).name
    errors: list[str] = []
    try:
        report = await run(
            state.services.bank.import_file,
            Path(name),
            data,
            by=f"web:{officer.admin_id}",
            max_rows=state.settings.max_upload_rows,
        )
    except ImportRejected as rejected:
        errors = [str(error) for error in rejected.errors]
    except ImportTooLarge as error:
        errors = [str(error)]
    except (ValueError, UnicodeDecodeError) as error:
        errors = [str(error)]
    if errors:
        context = {
            "rows": [],
            "q": "",
            "meaning": False,
            "topic": None,
            "zone": None,
            "source": "",
            "stale": False,
            "topics": await run(state.desk.topics),
            "count": await run(state.services.bank.count),
            "matched": 0,
            "page": 1,
            "pages": 1,
            "query": "",
            "note": None,
            "import_errors": errors,
        }
        return render(request, officer, "bank.html", context, 400)
    after = {"file": name, "added": report.added, "updated": report.updated}
    await run(state.desk.record, officer.admin_id, "import", "bank", None, after)
    return see_other("/bank?note=imported")
